// Everything a user did, one map per (video, kind): the raw material of the seed set. One row
// (a list), not a row per action: every streamed record costs the serving path time. A known user
// without actions gives one map of nulls; an unknown user, known = false. The row also carries the
// graph generation (the state id of the last load), so the service knows whether figures it
// cached are still current without another round trip.
OPTIONAL MATCH (m:YtgraphMeta {key: 'state'})
OPTIONAL MATCH (u:User {user_id: $user_id})
OPTIONAL MATCH (u)-[r:WATCHED|LIKED|FAVORITED|RATED|PLAYLISTED]->(v:Video)
RETURN m.state_id AS generation, u IS NOT NULL AS known,
       collect({video_id: v.video_id, title: v.title, kind: type(r),
                at: coalesce(r.last_at, r.at), rating: r.rating,
                count: r.count, long_watches: r.long_watches}) AS actions
