// Videos seen only in events (no metadata yet) still become nodes.
UNWIND $rows AS id
MERGE (:Video {video_id: id})
