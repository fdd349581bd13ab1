// A load is about to stage lists of generation $gen (committed before the first part, so an
// interrupted load is noticed and recovered by the next one).
MERGE (m:YtgraphMeta {key: 'state'})
SET m.staging = $gen, m.gen = coalesce(m.gen, 0)
