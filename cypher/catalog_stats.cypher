// Catalogue-wide figures the ranker normalises against (cached per process).
MATCH (v:Video)
RETURN max(v.views) AS max_views, max(v.comments) AS max_comments,
       max(coalesce(v.likes, 0) + coalesce(v.favorites, 0)) AS max_likes,
       max(v.sessions) AS max_sessions, max(v.uploaded_at) AS newest,
       sum(v.rating_avg * v.rating_count) / sum(v.rating_count) AS mean_rating
