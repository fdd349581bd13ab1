// Users left without any event (forgotten, or everything retracted): the node and everything
// attached to it (actions, stored pool, what they were shown) go.
UNWIND $rows AS uid
MATCH (u:User {user_id: uid})
DETACH DELETE u
