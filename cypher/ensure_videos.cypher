// Videos seen only in events (no metadata yet) still become nodes; one a load staged is now its own.
UNWIND $rows AS id
MERGE (v:Video {video_id: id})
REMOVE v.staged
