// Recovery or pruning finished: no staged or superseded lists are left.
MERGE (m:YtgraphMeta {key: 'state'})
SET m.staging = null, m.pruning = null, m.gen = coalesce(m.gen, 0)
