// The load bookkeeping that ties the graph to the count state kept beside it.
OPTIONAL MATCH (m:YtgraphMeta {key: 'state'})
RETURN m.state_id AS state_id, m.loads AS loads, m.updated_at AS updated_at
