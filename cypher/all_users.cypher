// Every user id, in id order (the default population of a batch precomputation).
MATCH (u:User)
RETURN u.user_id AS user_id
ORDER BY user_id
