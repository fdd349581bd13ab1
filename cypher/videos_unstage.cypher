// A load that failed before its switch deletes the videos it created for its staged lists.
UNWIND $rows AS id
MATCH (v:Video {video_id: id})
WHERE v.staged = $gen
DETACH DELETE v
