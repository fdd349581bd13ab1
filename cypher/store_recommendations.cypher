// Batch precomputation (paper 2.5): each user's ranked pool on the User node: a header (shape and
// seeds), one JSON string per item, the items' video ids (what rotation and staleness read), the
// key of the settings it was computed for, and no stale mark. Stored only while the graph is
// still at $generation, the one the batch read: the SET on the meta node takes its write lock
// first, so a load (which sets the meta node first in its transaction) either committed before
// and the pools are dropped, or waits.
OPTIONAL MATCH (m:YtgraphMeta {key: 'state'})
WITH m, coalesce(m.state_id, '') = coalesce($generation, '') AS current
CALL (m, current) {
  WITH m WHERE current AND m IS NOT NULL
  SET m.recs_stored_at = datetime()
}
UNWIND CASE WHEN current THEN $rows ELSE [] END AS row
MATCH (u:User {user_id: row.user_id})
SET u.recs = row.header, u.recs_items = row.items, u.recs_ids = row.ids, u.recs_key = row.key,
    u.recs_stale = false, u.recs_at = datetime()
RETURN count(u) AS stored
