// Cold start: the most viewed videos (observed sessions when no view count is known), newest first
// among equals (videos without an upload time after those with one: a DESC sort puts nulls
// first), leaving out $exclude.
MATCH (c:Video)
WHERE NOT c.video_id IN $exclude AND (c.views IS NOT NULL OR c.sessions IS NOT NULL)
WITH c, coalesce(c.views, toFloat(c.sessions)) AS popularity
ORDER BY popularity DESC, c.uploaded_at IS NULL, c.uploaded_at DESC, c.video_id
LIMIT $limit
RETURN c.video_id AS video_id, c.title AS title, c.views AS views, c.likes AS likes,
       c.favorites AS favorites, c.comments AS comments, c.rating_avg AS rating_avg,
       c.rating_count AS rating_count, c.uploaded_at AS uploaded_at, c.sessions AS sessions,
       c.channel_id AS channel_id, c.category AS category,
       [] AS paths
