// The generation a process's pool cache (recommendation.poolcache) holds pools for: the state id
// of the last load or forget (which set stale marks and delete users in that same transaction) and
// when precompute last stored pools. Null state id: a graph no load wrote, which is not cached.
OPTIONAL MATCH (m:YtgraphMeta {key: 'state'})
RETURN m.state_id AS state_id, toString(m.recs_stored_at) AS stored_at
