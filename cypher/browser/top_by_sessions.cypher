// title: Top videos by sessions (c_i)
// description: The videos found in the most sessions, with their view counts from the metadata,
//   the length of their related list and how many users watched them.
// params: {"n": 25}
// view: table
MATCH (v:Video)
WHERE v.sessions IS NOT NULL
RETURN v.video_id AS video_id, v.title AS title, v.sessions AS sessions, v.views AS views,
       COUNT { (v)-[r:RELATED]->() WHERE r.gen = v.rgen } AS related, COUNT { (:User)-[:WATCHED]->(v) } AS watchers
ORDER BY sessions DESC, video_id
LIMIT toInteger($n)
