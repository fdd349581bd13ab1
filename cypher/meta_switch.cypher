// The switch's first statement: the new count state and list generation. It write-locks the meta
// node, which a batch storing pools locks too, so a pool computed before this load is never stored
// as fresh (serve.precompute). The old edges are pruned after the commit (m.pruning till then).
MERGE (m:YtgraphMeta {key: 'state'})
SET m.state_id = $state_id, m.loads = coalesce(m.loads, 0) + 1, m.updated_at = datetime(),
    m.gen = $gen, m.staging = null, m.pruning = true
