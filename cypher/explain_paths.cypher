// Explain: every path from the seeds to one video within $depth hops (1..4), over the same edges
// the candidate expansion follows (rank <= $k, simple paths), with no candidate cap and no
// exclusion. One UNION branch per depth; a branch deeper than $depth is cut by its parameter-only
// guard before it expands. Fixing both ends keeps this cheap where a full expansion is not.
// Only each video's current list counts (r.gen = v.rgen), as in candidates.cypher.
MATCH (s:Video)-[r1:RELATED]->(t:Video {video_id: $video_id})
WHERE s.video_id IN $seeds AND r1.rank <= $k AND s <> t AND r1.gen = s.rgen
RETURN s.video_id AS seed, [s.video_id, t.video_id] AS path, [s.title, t.title] AS titles,
       [r1.score] AS scores, [r1.weight] AS weights, [r1.rank] AS ranks
UNION ALL
MATCH (s:Video)-[r1:RELATED]->(v1:Video)-[r2:RELATED]->(t:Video {video_id: $video_id})
WHERE $depth >= 2 AND s.video_id IN $seeds
  AND r1.rank <= $k AND r2.rank <= $k
  AND s <> v1 AND s <> t AND v1 <> t
  AND r1.gen = s.rgen AND r2.gen = v1.rgen
RETURN s.video_id AS seed, [s.video_id, v1.video_id, t.video_id] AS path,
       [s.title, v1.title, t.title] AS titles, [r1.score, r2.score] AS scores,
       [r1.weight, r2.weight] AS weights, [r1.rank, r2.rank] AS ranks
UNION ALL
MATCH (s:Video)-[r1:RELATED]->(v1:Video)-[r2:RELATED]->(v2:Video)-[r3:RELATED]->
      (t:Video {video_id: $video_id})
WHERE $depth >= 3 AND s.video_id IN $seeds
  AND r1.rank <= $k AND r2.rank <= $k AND r3.rank <= $k
  AND s <> v1 AND s <> v2 AND s <> t AND v1 <> v2 AND v1 <> t AND v2 <> t
  AND r1.gen = s.rgen AND r2.gen = v1.rgen AND r3.gen = v2.rgen
RETURN s.video_id AS seed, [s.video_id, v1.video_id, v2.video_id, t.video_id] AS path,
       [s.title, v1.title, v2.title, t.title] AS titles, [r1.score, r2.score, r3.score] AS scores,
       [r1.weight, r2.weight, r3.weight] AS weights, [r1.rank, r2.rank, r3.rank] AS ranks
UNION ALL
MATCH (s:Video)-[r1:RELATED]->(v1:Video)-[r2:RELATED]->(v2:Video)-[r3:RELATED]->(v3:Video)
      -[r4:RELATED]->(t:Video {video_id: $video_id})
WHERE $depth >= 4 AND s.video_id IN $seeds
  AND r1.rank <= $k AND r2.rank <= $k
  AND r3.rank <= $k AND r4.rank <= $k
  AND s <> v1 AND s <> v2 AND s <> v3 AND s <> t AND v1 <> v2 AND v1 <> v3 AND v1 <> t
  AND v2 <> v3 AND v2 <> t AND v3 <> t
  AND r1.gen = s.rgen AND r2.gen = v1.rgen AND r3.gen = v2.rgen AND r4.gen = v3.rgen
RETURN s.video_id AS seed, [s.video_id, v1.video_id, v2.video_id, v3.video_id, t.video_id] AS path,
       [s.title, v1.title, v2.title, v3.title, t.title] AS titles,
       [r1.score, r2.score, r3.score, r4.score] AS scores,
       [r1.weight, r2.weight, r3.weight, r4.weight] AS weights,
       [r1.rank, r2.rank, r3.rank, r4.rank] AS ranks
