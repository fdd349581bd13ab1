// A load marks stale the stored pools of the users whose own actions changed.
UNWIND $rows AS uid
MATCH (u:User {user_id: uid})
WHERE u.recs IS NOT NULL
SET u.recs_stale = true
