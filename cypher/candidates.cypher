// Candidate generation (paper 2.3): from the seeds, follow RELATED up to $depth hops (1..4), only the
// top $k edges of each video (rank <= $k), and keep every seed -> candidate path with its edges.
// The depth bound can't be a parameter inside a pattern (*1..$n is refused), so each depth is its
// own UNION branch whose guard ($depth >= d) depends only on a parameter: the planner checks it
// before expanding, and a shallower request never walks the deeper branches. Paths are simple
// (no video twice). Seeds and $exclude (e.g. already watched) are never candidates.
// There is deliberately no index on RELATED.rank: with one, the planner seeks every edge of
// rank <= $k in the whole graph instead of expanding from the seed.
UNWIND $seeds AS seed
MATCH (s:Video {video_id: seed})
CALL (s) {
  MATCH (s)-[r1:RELATED]->(v1:Video)
  WHERE r1.rank <= $k
  RETURN [v1] AS nodes, [r1] AS rels
  UNION ALL
  WITH s WHERE $depth >= 2
  MATCH (s)-[r1:RELATED]->(v1:Video)-[r2:RELATED]->(v2:Video)
  WHERE r1.rank <= $k AND r2.rank <= $k AND v2 <> s
  RETURN [v1, v2] AS nodes, [r1, r2] AS rels
  UNION ALL
  WITH s WHERE $depth >= 3
  MATCH (s)-[r1:RELATED]->(v1:Video)-[r2:RELATED]->(v2:Video)-[r3:RELATED]->(v3:Video)
  WHERE r1.rank <= $k AND r2.rank <= $k AND r3.rank <= $k
    AND v2 <> s AND v3 <> s AND v3 <> v1
  RETURN [v1, v2, v3] AS nodes, [r1, r2, r3] AS rels
  UNION ALL
  WITH s WHERE $depth >= 4
  MATCH (s)-[r1:RELATED]->(v1:Video)-[r2:RELATED]->(v2:Video)-[r3:RELATED]->(v3:Video)
        -[r4:RELATED]->(v4:Video)
  WHERE r1.rank <= $k AND r2.rank <= $k
    AND r3.rank <= $k AND r4.rank <= $k
    AND v2 <> s AND v3 <> s AND v3 <> v1 AND v4 <> s AND v4 <> v1 AND v4 <> v2
  RETURN [v1, v2, v3, v4] AS nodes, [r1, r2, r3, r4] AS rels
}
WITH seed, nodes, rels, nodes[-1] AS c
WHERE NOT c.video_id IN $seeds AND NOT c.video_id IN $exclude
// A path's strength is the product of its edges' weights (score / best score of that list).
WITH c, seed, nodes, rels, reduce(p = 1.0, r IN rels | p * r.weight) AS strength
WITH c,
     collect({seed: seed, path: [seed] + [n IN nodes | n.video_id],
              scores: [r IN rels | r.score], weights: [r IN rels | r.weight],
              strength: strength}) AS paths,
     max(strength) AS best
ORDER BY best DESC, c.video_id
LIMIT $max_candidates
RETURN c.video_id AS video_id, c.title AS title, c.views AS views, c.likes AS likes,
       c.favorites AS favorites, c.comments AS comments, c.rating_avg AS rating_avg,
       c.rating_count AS rating_count, c.uploaded_at AS uploaded_at, c.sessions AS sessions,
       c.channel_id AS channel_id, c.category AS category,
       paths
