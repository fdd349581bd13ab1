// A page of users and their actions for a batch snapshot, in user_id order after $after (null:
// from the start): per user the rows of user_actions.cypher as lists [video_id, kind, at, rating,
// count, long_watches] (the title is the video's), in the order that query collects them. A user
// without actions has one list of nulls, as user_actions.cypher gives one map of nulls.
MATCH (u:User)
WHERE u.user_id IS NOT NULL AND ($after IS NULL OR u.user_id > $after)
WITH u
ORDER BY u.user_id
LIMIT $limit
OPTIONAL MATCH (u)-[r:WATCHED|LIKED|FAVORITED|RATED|PLAYLISTED]->(v:Video)
WITH u, collect([v.video_id, type(r), coalesce(r.last_at, r.at), r.rating, r.count,
                 r.long_watches]) AS actions
RETURN collect([u.user_id, actions]) AS users
