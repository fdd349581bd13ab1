// title: YouTube's crawl list vs ours for a video
// description: The union of YouTube's related list from the 2008 crawl (YT_RELATED, position 1 =
//   first) and ours (RELATED, rank 1 = best) for one video, and who lists each entry.
// params: {"video_id": "v_cat"}
// view: table
MATCH (v:Video {video_id: $video_id})-[e:YT_RELATED|RELATED]->(b:Video)
WHERE type(e) = 'YT_RELATED' OR e.gen = v.rgen
WITH b, min(CASE WHEN type(e) = 'YT_RELATED' THEN e.position END) AS youtube_position,
     min(CASE WHEN type(e) = 'RELATED' THEN e.rank END) AS our_rank,
     max(CASE WHEN type(e) = 'RELATED' THEN e.score END) AS our_score
RETURN b.video_id AS video_id, b.title AS title, youtube_position, our_rank, our_score,
       CASE
         WHEN youtube_position IS NULL THEN 'ours only'
         WHEN our_rank IS NULL THEN 'YouTube only'
         ELSE 'both'
       END AS listed_by
ORDER BY coalesce(youtube_position, 1000000000), our_rank, video_id
