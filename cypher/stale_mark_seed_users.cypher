// A load marks stale the stored pools of the users with an action on a video whose related list
// changed (or from which a changed list is reached within the expansion depth): their seeds.
UNWIND $rows AS vid
MATCH (:Video {video_id: vid})<-[:WATCHED|LIKED|FAVORITED|RATED|PLAYLISTED]-(u:User)
WHERE u.recs IS NOT NULL AND NOT coalesce(u.recs_stale, false)
SET u.recs_stale = true
