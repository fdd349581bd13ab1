// R_i for a batch of source videos: drop the old list, write the new one. Each row carries one
// source and its whole list as parallel arrays (one index lookup for the source, compact rows).
UNWIND $rows AS row
MATCH (a:Video {video_id: row.src})
CALL (a) {
  MATCH (a)-[old:RELATED]->()
  DELETE old
}
WITH a, row
UNWIND range(0, size(row.dst) - 1) AS i
MATCH (b:Video {video_id: row.dst[i]})
CREATE (a)-[:RELATED {score: row.score[i], cooccurrences: row.cooccurrences[i],
                      rank: row.rank[i], weight: row.weight[i]}]->(b)
