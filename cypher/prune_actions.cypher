// Retractions and forgetting: a (user, video) pair that lost events keeps only the relationships
// of the kinds it still has events for ($rows: user_id, video_id, keep: [relationship types]).
UNWIND $rows AS row
MATCH (:User {user_id: row.user_id})-[r:WATCHED|LIKED|FAVORITED|RATED|PLAYLISTED]->(:Video {video_id: row.video_id})
WHERE NOT type(r) IN row.keep
DELETE r
