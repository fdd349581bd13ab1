// Videos only removed events had created (no metadata ever named them, no event is left): what a
// fresh load without those events would not have created.
UNWIND $rows AS vid
MATCH (v:Video {video_id: vid})
DETACH DELETE v
