// title: Why was video V recommended to user U? (graph)
// description: The provenance of a recommendation: every path of one or two RELATED edges (top $k
//   of each list, as the candidate expansion follows them) from one of U's seed videos to V, drawn
//   with U and U's actions on those seeds, each element once; the Table view lists the paths by
//   strength (the product of their edges' weights). A seed is any video U watched, liked, favorited,
//   added to a playlist or rated, unless U rated it below the threshold. (The recommender keeps
//   the max_seeds heaviest seeds; see "A user's seed set".) With the Browser's "Connect result
//   nodes" setting on (its default) the drawing also shows every other relationship between these
//   nodes; `:config autoComplete: false` leaves the paths alone.
// params: {"user_id": "u_ann", "video_id": "v_fox", "k": 30, "rating_threshold": 0.5}
// view: graph
// inputs: {"video_id": "recommended_video_id"}
MATCH (u:User {user_id: $user_id})-[a:WATCHED|LIKED|FAVORITED|PLAYLISTED|RATED]->(s:Video)
WHERE s.video_id <> $video_id
  AND NOT EXISTS { (u)-[d:RATED]->(s) WHERE d.rating < $rating_threshold }
MATCH p = (s)-[rels:RELATED*1..2]->(:Video {video_id: $video_id})
WHERE all(r IN rels WHERE r.rank <= $k AND r.gen = startNode(r).rgen)
WITH u, collect(DISTINCT a) AS actions, collect(DISTINCT p) AS paths
RETURN u AS user, actions,
       COLLECT { UNWIND paths AS p UNWIND nodes(p) AS n RETURN DISTINCT n } AS videos,
       COLLECT { UNWIND paths AS p UNWIND relationships(p) AS r RETURN DISTINCT r } AS related,
       COLLECT {
         UNWIND paths AS p
         WITH [n IN nodes(p) | coalesce(n.title, n.video_id)] AS path,
              reduce(x = 1.0, r IN relationships(p) | x * r.weight) AS strength
         RETURN {path: path, strength: strength} AS provenance
         ORDER BY strength DESC, path
       } AS paths
