// A user's whole stored pool (header, every item and their video ids), its marks, what the user
// was shown and whether the user is known: what a process's pool cache keeps of a user, and for
// inspection and tests. A visit without the cache reads serve_pool instead.
OPTIONAL MATCH (u:User {user_id: $user_id})
RETURN u IS NOT NULL AS known, u.recs AS header, u.recs_items AS items, u.recs_ids AS ids,
       u.recs_key AS recs_key, coalesce(u.recs_stale, false) AS stale, u.shown AS shown
