// title: Overlap of YouTube's lists and ours, per video
// description: For every video with a crawled YouTube list: its length, the length of ours, how
//   many videos both hold and the Jaccard index |both| / |either|, biggest overlap first.
// params: {"n": 25}
// view: table
MATCH (v:Video)
WHERE EXISTS { (v)-[:YT_RELATED]->() }
WITH v,
     COLLECT { MATCH (v)-[:YT_RELATED]->(b:Video) RETURN DISTINCT b.video_id } AS youtube,
     COLLECT { MATCH (v)-[r:RELATED]->(b:Video) WHERE r.gen = v.rgen RETURN b.video_id } AS ours
WITH v, youtube, ours, size([x IN youtube WHERE x IN ours]) AS overlap
RETURN v.video_id AS video_id, v.title AS title, size(youtube) AS youtube_list,
       size(ours) AS our_list, overlap,
       toFloat(overlap) / (size(youtube) + size(ours) - overlap) AS jaccard
ORDER BY overlap DESC, jaccard DESC, video_id
LIMIT toInteger($n)
