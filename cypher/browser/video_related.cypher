// title: Related list of a video (R_i)
// description: The list R_i the recommender keeps for one video, best first: each entry's rank,
//   score r(i, j) = c_ij / f(i, j), weight (score / best score of this list) and co-views c_ij,
//   with c_i and c_j (sessions) to check the arithmetic by hand.
// params: {"video_id": "v_cat", "n": 25}
// view: table
MATCH (v:Video {video_id: $video_id})-[r:RELATED]->(b:Video)
WHERE r.gen = v.rgen
RETURN r.rank AS rank, b.video_id AS video_id, b.title AS title, r.score AS score,
       r.weight AS weight, r.cooccurrences AS cooccurrences, v.sessions AS c_i, b.sessions AS c_j
ORDER BY rank
LIMIT toInteger($n)
