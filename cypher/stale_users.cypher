// The users without a valid stored pool: never computed, marked stale by a load, or computed
// under other settings ($key). What `ytgraph precompute --stale` computes.
MATCH (u:User)
WHERE u.recs IS NULL OR coalesce(u.recs_stale, false) OR u.recs_key <> $key
RETURN u.user_id AS user_id
ORDER BY user_id
