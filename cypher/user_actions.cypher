// Everything a user did, one row per (video, kind): the raw material of the seed set.
MATCH (u:User {user_id: $user_id})
OPTIONAL MATCH (u)-[r:WATCHED|LIKED|FAVORITED|RATED|PLAYLISTED]->(v:Video)
RETURN v.video_id AS video_id, v.title AS title, type(r) AS kind,
       coalesce(r.last_at, r.at) AS at, r.rating AS rating,
       r.count AS count, r.long_watches AS long_watches
