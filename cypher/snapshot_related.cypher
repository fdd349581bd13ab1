// The RELATED edges of a page of source videos ($ids), for a batch snapshot: parallel lists, each
// edge's source as its index in $ids, in the order the server expands each source's edges (the
// order candidates.cypher meets them). Only each source's current list (r.gen = a.rgen). `edges`
// counts the rows, so a null property (which collect would drop) is noticed.
UNWIND range(0, size($ids) - 1) AS i
MATCH (a:Video {video_id: $ids[i]})-[r:RELATED]->(b)
WHERE r.gen = a.rgen
RETURN collect(i) AS src, collect(b.video_id) AS dst, collect(r.rank) AS rank,
       collect(r.score) AS score, collect(r.weight) AS weight, count(*) AS edges
