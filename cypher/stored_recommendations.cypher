// A user's precomputed list and the graph generation it belongs to, in one round trip:
// serving compares the stored key with the key of the current generation and settings.
OPTIONAL MATCH (u:User {user_id: $user_id})
OPTIONAL MATCH (m:YtgraphMeta {key: 'state'})
RETURN u.recs AS recs, u.recs_key AS recs_key, m.state_id AS state_id
