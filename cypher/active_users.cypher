// The users with the most watched videos (for demos and smoke checks).
MATCH (u:User)
WITH u, COUNT { (u)-[:WATCHED]->() } AS watched
ORDER BY watched DESC, u.user_id
LIMIT $limit
RETURN u.user_id AS user_id, watched
