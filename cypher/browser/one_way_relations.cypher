// title: One-way relations (j in R_i, but i not in R_j)
// description: Lists are directed: j can be in R_i while i is not in R_j, because R_j is already
//   full of better-scoring videos (top_n) or, with an asymmetric normalisation such as candidate,
//   because the score differs by direction. dst_list_size and dst_weakest_score show the bar the
//   reverse edge would have had to clear.
// params: {"n": 25}
// view: table
MATCH (a:Video)-[r:RELATED]->(b:Video)
WHERE r.gen = a.rgen AND NOT EXISTS { (b)-[back:RELATED]->(a) WHERE back.gen = b.rgen }
RETURN a.video_id AS src, a.title AS src_title, b.video_id AS dst, b.title AS dst_title,
       r.rank AS rank, r.score AS score, r.cooccurrences AS cooccurrences,
       COUNT { (b)-[t:RELATED]->() WHERE t.gen = b.rgen } AS dst_list_size,
       COLLECT { MATCH (b)-[s:RELATED]->() WHERE s.gen = b.rgen RETURN s.score ORDER BY s.rank DESC LIMIT 1 }[0]
         AS dst_weakest_score
ORDER BY cooccurrences DESC, score DESC, src, dst
LIMIT toInteger($n)
