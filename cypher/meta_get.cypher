// The generation of the graph: the state id of the count state its last load committed (null
// before the first load). Loads check it against the state folder; serving keys lists by it.
// gen: the list generation of the last switch (related_stage); staging / pruning: a load staged
// lists it never switched to / switched but had not pruned the old edges (the next load recovers).
OPTIONAL MATCH (m:YtgraphMeta {key: 'state'})
RETURN m.state_id AS state_id, m.gen AS gen, m.staging AS staging, m.pruning AS pruning
