// Record the count state a write committed (bulk import, forget, tests); list generations stay.
MERGE (m:YtgraphMeta {key: 'state'})
SET m.state_id = $state_id, m.loads = coalesce(m.loads, 0) + 1, m.updated_at = datetime(),
    m.gen = coalesce(m.gen, 0)
