// YouTube's own related lists from a crawl, kept apart as YT_RELATED {position} to compare with ours.
UNWIND $rows AS row
MERGE (a:Video {video_id: row.src})
WITH a, row
CALL (a) {
  MATCH (a)-[old:YT_RELATED]->()
  DELETE old
}
WITH a, row
UNWIND range(0, size(row.dst) - 1) AS i
MERGE (b:Video {video_id: row.dst[i]})
CREATE (a)-[:YT_RELATED {position: row.position[i]}]->(b)
