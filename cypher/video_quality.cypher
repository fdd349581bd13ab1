// The quality figures of some videos, read before and after a load to see which moved (staleness).
UNWIND $ids AS id
MATCH (v:Video {video_id: id})
RETURN v.video_id AS video_id, v.views AS views, v.sessions AS sessions, v.likes AS likes,
       v.favorites AS favorites, v.comments AS comments, v.rating_avg AS rating_avg,
       v.rating_count AS rating_count
