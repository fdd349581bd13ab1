// title: Neighbourhood of a video, two hops over RELATED (graph)
// description: Every path of one or two RELATED edges out of the video, following only the top $k
//   entries of each list (rank <= k), as the candidate expansion does. Drawn as a graph; click an
//   edge to see its score, weight and co-views.
// params: {"video_id": "v_cat", "k": 10}
// view: graph
MATCH p = (:Video {video_id: $video_id})-[rels:RELATED*1..2]->(:Video)
WHERE all(r IN rels WHERE r.rank <= $k AND r.gen = startNode(r).rgen)
RETURN p
