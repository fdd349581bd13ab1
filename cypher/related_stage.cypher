// A load's new R_i, written beside the old lists in transactions of their own: each edge carries
// the load's list generation $gen, which no source points at yet (a.rgen), so no reader follows it
// until related_switch moves the pointers in the load's last transaction. Rows as replace_related.
UNWIND $rows AS row
MATCH (a:Video {video_id: row.src})
WITH a, row
UNWIND range(0, size(row.dst) - 1) AS i
MATCH (b:Video {video_id: row.dst[i]})
CREATE (a)-[:RELATED {score: row.score[i], cooccurrences: row.cooccurrences[i],
                      rank: row.rank[i], weight: row.weight[i], gen: $gen}]->(b)
