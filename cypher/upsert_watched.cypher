// (:User)-[:WATCHED]->(:Video) aggregates, recomputed from all of the pair's events (SET, not add:
// loading the same events twice gives the same values).
UNWIND $rows AS row
MERGE (u:User {user_id: row.user_id})
WITH u, row
MATCH (v:Video {video_id: row.video_id})
MERGE (u)-[w:WATCHED]->(v)
SET w.count = row.count, w.first_at = row.first_at, w.last_at = row.last_at,
    w.watch_seconds = row.watch_seconds, w.long_watches = row.long_watches
