// Candidate generation (paper 2.3): from the seeds, follow RELATED up to $depth hops (1..4), only the
// top $k edges of each video (rank <= $k), and keep every seed -> candidate path with its edges.
// The depth bound can't be a parameter inside a pattern (*1..$n is refused), so each depth is its
// own UNION branch whose guard ($depth >= d) depends only on a parameter: the planner checks it
// before expanding, and a shallower request never walks the deeper branches. Paths are simple
// (no video twice). Seeds and $exclude (e.g. already watched) are never candidates.
// There is deliberately no index on RELATED.rank: with one, the planner seeks every edge of
// rank <= $k in the whole graph instead of expanding from the seed.
// Only each video's current list counts: r.gen = v.rgen (a load stages new lists beside the old
// and switches the pointers last, so a half-written load is never followed).
// Speed: RELATED only ever joins two videos, so the hops carry no label check; each path is plain
// lists, not maps; and the answer is ONE row holding one list per candidate. Hundreds of rows of
// nested maps cost more to stream and to decode than the expansion itself costs to run.
UNWIND $seeds AS seed
MATCH (s:Video {video_id: seed})
CALL (s, seed) {
  MATCH (s)-[r1:RELATED]->(v1)
  WHERE r1.rank <= $k AND r1.gen = s.rgen
  RETURN v1 AS c, [seed, v1.video_id] AS path, [r1.score] AS scores, [r1.weight] AS weights
  UNION ALL
  WITH s, seed WHERE $depth >= 2
  MATCH (s)-[r1:RELATED]->(v1)-[r2:RELATED]->(v2)
  WHERE r1.rank <= $k AND r2.rank <= $k AND v2 <> s
    AND r1.gen = s.rgen AND r2.gen = v1.rgen
  RETURN v2 AS c, [seed, v1.video_id, v2.video_id] AS path,
         [r1.score, r2.score] AS scores, [r1.weight, r2.weight] AS weights
  UNION ALL
  WITH s, seed WHERE $depth >= 3
  MATCH (s)-[r1:RELATED]->(v1)-[r2:RELATED]->(v2)-[r3:RELATED]->(v3)
  WHERE r1.rank <= $k AND r2.rank <= $k AND r3.rank <= $k
    AND v2 <> s AND v3 <> s AND v3 <> v1
    AND r1.gen = s.rgen AND r2.gen = v1.rgen AND r3.gen = v2.rgen
  RETURN v3 AS c, [seed, v1.video_id, v2.video_id, v3.video_id] AS path,
         [r1.score, r2.score, r3.score] AS scores, [r1.weight, r2.weight, r3.weight] AS weights
  UNION ALL
  WITH s, seed WHERE $depth >= 4
  MATCH (s)-[r1:RELATED]->(v1)-[r2:RELATED]->(v2)-[r3:RELATED]->(v3)-[r4:RELATED]->(v4)
  WHERE r1.rank <= $k AND r2.rank <= $k AND r3.rank <= $k AND r4.rank <= $k
    AND v2 <> s AND v3 <> s AND v3 <> v1 AND v4 <> s AND v4 <> v1 AND v4 <> v2
    AND r1.gen = s.rgen AND r2.gen = v1.rgen AND r3.gen = v2.rgen AND r4.gen = v3.rgen
  RETURN v4 AS c, [seed, v1.video_id, v2.video_id, v3.video_id, v4.video_id] AS path,
         [r1.score, r2.score, r3.score, r4.score] AS scores,
         [r1.weight, r2.weight, r3.weight, r4.weight] AS weights
}
WITH c, path, scores, weights
WHERE NOT c.video_id IN $seeds AND NOT c.video_id IN $exclude
// A path's strength is the product of its edges' weights (score / best score of that list); the
// candidates with the strongest best path are kept.
WITH c, collect(path) AS paths, collect(scores) AS scores, collect(weights) AS weights,
     max(reduce(p = 1.0, w IN weights | p * w)) AS best
ORDER BY best DESC, c.video_id
LIMIT $max_candidates
// One list per candidate, as candidates.candidate_from_row reads it; paths[i], scores[i] and weights[i]
// describe the same path.
RETURN collect([c.video_id, c.title, c.channel_id, c.category,
                c.views, c.likes, c.favorites, c.comments, c.rating_avg, c.rating_count,
                c.uploaded_at, c.sessions,
                paths, scores, weights]) AS candidates
