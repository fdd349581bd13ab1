// R_i of one video, best first: its current list (r.gen = a.rgen; see related_stage).
MATCH (a:Video {video_id: $video_id})-[r:RELATED]->(b:Video)
WHERE r.gen = a.rgen
RETURN b.video_id AS video_id, b.title AS title, r.score AS score,
       r.cooccurrences AS cooccurrences, r.rank AS rank
ORDER BY r.rank
LIMIT $n
