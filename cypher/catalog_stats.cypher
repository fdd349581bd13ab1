// Catalogue-wide figures the ranker normalises against (cached per process).
// The mean rating is weighted by rating_count over the videos that have a rating; it is null (not a
// division by zero) when no video has one.
MATCH (v:Video)
WITH max(v.views) AS max_views, max(v.comments) AS max_comments,
     max(coalesce(v.likes, 0) + coalesce(v.favorites, 0)) AS max_likes,
     max(v.sessions) AS max_sessions, max(v.uploaded_at) AS newest,
     sum(toFloat(v.rating_avg) * v.rating_count) AS rating_sum,
     sum(CASE WHEN v.rating_avg IS NOT NULL THEN v.rating_count END) AS rating_n
RETURN max_views, max_comments, max_likes, max_sessions, newest,
       CASE WHEN rating_n > 0 THEN rating_sum / rating_n END AS mean_rating
