// The generation of the graph: a load gives it a new state id.
OPTIONAL MATCH (m:YtgraphMeta {key: 'state'})
RETURN m.state_id AS state_id
