// A page of videos for a batch snapshot (ytgraph.recommendation.batch): the properties the
// service's reads return, in video_id order after $after (null: from the start), $limit at most.
// One row holding one list per video: lists keep nulls (collect would drop them) and stream fast.
MATCH (v:Video)
WHERE v.video_id IS NOT NULL AND v.staged IS NULL AND ($after IS NULL OR v.video_id > $after)
WITH v
ORDER BY v.video_id
LIMIT $limit
RETURN collect([v.video_id, v.title, v.channel_id, v.category,
                v.views, v.likes, v.favorites, v.comments, v.rating_avg, v.rating_count,
                v.uploaded_at, v.sessions]) AS videos
