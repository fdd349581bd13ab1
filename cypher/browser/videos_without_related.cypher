// title: Videos with no related list
// description: Videos whose R_i is empty (too few co-views to pass min_count, or never watched),
//   most-watched first: they can be recommended from other videos' lists (listed_by) but lead
//   nowhere themselves. youtube_related counts YouTube's own crawl list for comparison.
// params: {"n": 25}
// view: table
MATCH (v:Video)
WHERE v.staged IS NULL AND NOT EXISTS { (v)-[r:RELATED]->() WHERE r.gen = v.rgen }
RETURN v.video_id AS video_id, v.title AS title, v.sessions AS sessions, v.views AS views,
       COUNT { (a:Video)-[r:RELATED]->(v) WHERE r.gen = a.rgen } AS listed_by,
       COUNT { (v)-[:YT_RELATED]->() } AS youtube_related
ORDER BY coalesce(sessions, 0) DESC, video_id
LIMIT toInteger($n)
