MATCH (v:Video {video_id: $video_id})
RETURN v.video_id AS video_id, v.title AS title
