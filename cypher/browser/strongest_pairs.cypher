// title: Strongest co-view pairs
// description: The video pairs watched together in the most sessions (c_ij), each pair once, with
//   whether each video holds the other in its related list. c_ij is stored on RELATED edges only,
//   so a pair shows here when at least one of the two lists holds the other.
// params: {"n": 25}
// view: table
MATCH (a:Video)-[r:RELATED]->(b:Video)
WHERE r.gen = a.rgen
WITH r, a.video_id < b.video_id AS forward,
     CASE WHEN a.video_id < b.video_id THEN a ELSE b END AS x,
     CASE WHEN a.video_id < b.video_id THEN b ELSE a END AS y
WITH x, y, max(r.cooccurrences) AS cooccurrences,
     sum(CASE WHEN forward THEN 1 ELSE 0 END) > 0 AS b_in_list_of_a,
     sum(CASE WHEN forward THEN 0 ELSE 1 END) > 0 AS a_in_list_of_b
RETURN x.video_id AS video_a, x.title AS title_a, y.video_id AS video_b, y.title AS title_b,
       cooccurrences, b_in_list_of_a, a_in_list_of_b
ORDER BY cooccurrences DESC, video_a, video_b
LIMIT toInteger($n)
