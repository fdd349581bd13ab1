// R_i for a batch of source videos, in place: drop the old list, write the new one, all in the
// caller's transaction (forget and small writers; a load stages its lists: related_stage). Each
// row carries one source and its whole list as parallel arrays (one index lookup per source).
// The new edges keep the source's list generation (rgen; 0 for a new source), so they are its
// visible list at once: readers follow only edges with r.gen = a.rgen (see related_stage).
UNWIND $rows AS row
MATCH (a:Video {video_id: row.src})
CALL (a) {
  MATCH (a)-[old:RELATED]->()
  DELETE old
}
WITH a, row, coalesce(a.rgen, 0) AS gen
SET a.rgen = gen
WITH a, row, gen
UNWIND range(0, size(row.dst) - 1) AS i
MATCH (b:Video {video_id: row.dst[i]})
CREATE (a)-[:RELATED {score: row.score[i], cooccurrences: row.cooccurrences[i],
                      rank: row.rank[i], weight: row.weight[i], gen: gen}]->(b)
