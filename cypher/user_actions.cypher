// Everything a user did, one map per (video, kind): the raw material of the seed set. One row
// (a list), not a row per action: every streamed record costs the serving path time. A known user
// without actions gives one map of nulls; an unknown user, an empty list.
MATCH (u:User {user_id: $user_id})
OPTIONAL MATCH (u)-[r:WATCHED|LIKED|FAVORITED|RATED|PLAYLISTED]->(v:Video)
RETURN collect({video_id: v.video_id, title: v.title, kind: type(r),
                at: coalesce(r.last_at, r.at), rating: r.rating,
                count: r.count, long_watches: r.long_watches}) AS actions
