// A user's whole stored pool (header and every item), its marks and what the user was shown: for
// inspection and tests; a visit reads serve_pool instead.
OPTIONAL MATCH (u:User {user_id: $user_id})
RETURN u.recs AS header, u.recs_items AS items, u.recs_key AS recs_key,
       coalesce(u.recs_stale, false) AS stale, u.shown AS shown
