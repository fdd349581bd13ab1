// Of some videos, those that carry metadata (a property besides video_id and sessions, or a
// channel or category): named by a videos table. Used when the count state predates its catalog.
UNWIND $ids AS id
MATCH (v:Video {video_id: id})
WHERE any(k IN keys(v) WHERE NOT k IN ['video_id', 'sessions'])
   OR EXISTS { (v)-[:UPLOADED_BY|IN_CATEGORY|YT_RELATED]-() }
RETURN v.video_id AS video_id
