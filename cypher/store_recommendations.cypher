// Batch precomputation (paper 3.2): each user's list as JSON on the User node, with the key of
// the graph generation and settings it was computed for. Setting it again is idempotent.
UNWIND $rows AS row
MATCH (u:User {user_id: row.user_id})
SET u.recs = row.recs, u.recs_key = row.key, u.recs_at = datetime()
