// The generation of the graph: the state id of the count state its last load committed
// (null before the first load). Loads check it against the state folder; serving keys lists by it.
OPTIONAL MATCH (m:YtgraphMeta {key: 'state'})
RETURN m.state_id AS state_id
