// How many users have a stored pool, and how many of those are stale.
MATCH (u:User)
WHERE u.recs IS NOT NULL
RETURN count(u) AS pools, count(CASE WHEN u.recs_stale THEN 1 END) AS stale
