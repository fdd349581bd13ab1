// Impressions (paper 2.5): append each user's newly shown videos to User.shown, keeping the last
// row.keep; the rotation of the next visit reads it. One row per user per flush.
UNWIND $rows AS row
MATCH (u:User {user_id: row.user_id})
WITH u, row, coalesce(u.shown, []) + row.videos AS shown
SET u.shown = shown[-row.keep..]
