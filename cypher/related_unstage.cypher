// A load that failed before its switch takes back the edges it staged (generation $gen) for a
// batch of sources.
UNWIND $rows AS id
MATCH (a:Video {video_id: id})-[r:RELATED]->()
WHERE r.gen = $gen
DELETE r
