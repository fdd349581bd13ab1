// Which of some user ids the graph holds.
UNWIND $ids AS id
MATCH (u:User {user_id: id})
RETURN u.user_id AS user_id
