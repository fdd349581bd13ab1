// A user's stored pool, whether a load marked it stale, and what the user was last shown (the
// rotation prefers what was shown least), in one round trip.
OPTIONAL MATCH (u:User {user_id: $user_id})
RETURN u.recs AS recs, u.recs_key AS recs_key, coalesce(u.recs_stale, false) AS stale,
       u.shown AS shown
