// title: Find ids to try
// description: Example values from this graph for the queries below: the most-watched video with
//   a related list, the most active user with a video reachable from their seeds that they have
//   not touched yet (a video to ask "why?" about), the channel with the most videos and the video
//   with the longest crawled YouTube list. Type them into the boxes above.
// params: {"k": 30, "rating_threshold": 0.5}
// view: table
CALL () {
  OPTIONAL MATCH (v:Video) WHERE EXISTS { (v)-[r:RELATED]->() WHERE r.gen = v.rgen }
  RETURN v.video_id AS video_id ORDER BY coalesce(v.sessions, 0) DESC, v.video_id LIMIT 1
}
CALL () {
  OPTIONAL MATCH (u:User)
  WITH u, COUNT { (u)-[:WATCHED|LIKED|FAVORITED|PLAYLISTED|RATED]->() } AS actions
  RETURN u ORDER BY actions DESC, u.user_id LIMIT 1
}
CALL (u) {
  OPTIONAL MATCH (u)-[:WATCHED|LIKED|FAVORITED|PLAYLISTED|RATED]->(s:Video)
  WHERE NOT EXISTS { (u)-[d:RATED]->(s) WHERE d.rating < $rating_threshold }
  WITH DISTINCT u, s
  OPTIONAL MATCH p = (s)-[rels:RELATED*1..2]->(c:Video)
  WHERE all(r IN rels WHERE r.rank <= $k AND r.gen = startNode(r).rgen)
    AND NOT EXISTS { (u)-->(c) }
  WITH c, count(p) AS paths
  RETURN c.video_id AS recommended_video_id
  ORDER BY paths DESC, recommended_video_id LIMIT 1
}
CALL () {
  OPTIONAL MATCH (c:Channel)<-[:UPLOADED_BY]-(:Video)
  WITH c, count(*) AS videos
  RETURN c.channel_id AS channel_id ORDER BY videos DESC, channel_id LIMIT 1
}
CALL () {
  OPTIONAL MATCH (v:Video)-[y:YT_RELATED]->()
  WITH v, count(y) AS listed
  RETURN v.video_id AS crawled_video_id ORDER BY listed DESC, crawled_video_id LIMIT 1
}
RETURN video_id, u.user_id AS user_id, recommended_video_id, channel_id, crawled_video_id
