// title: A user's seed set with weights
// description: The videos the recommender starts from for this user, computed the way
//   ytgraph/seeds.py does: each action has a base weight (favorite > like = playlist > rating >
//   long watch > plain watch; a rating counts from the threshold up, scaled to 5 stars, and a
//   rating below the threshold removes the video), decayed by 0.5^(age / half-life) with the age
//   measured back from the user's latest action, summed per video, heaviest first, at most
//   max_seeds. The parameters are ytgraph's defaults ([seeds] in ytgraph.toml).
// params: {"user_id": "u_ann", "weight_favorite": 3.0, "weight_like": 2.5,
//   "weight_playlist_add": 2.5, "weight_rate": 2.0, "weight_long_watch": 1.5, "weight_watch": 0.5,
//   "rating_threshold": 0.5, "half_life_days": 0.0, "max_seeds": 200}
// view: table
MATCH (:User {user_id: $user_id})-[r:WATCHED|LIKED|FAVORITED|PLAYLISTED|RATED]->(v:Video)
WITH v, type(r) AS kind, coalesce(r.last_at, r.at) AS at, r.rating AS rating,
     r.long_watches AS long_watches
WITH collect({v: v, kind: kind, at: at, rating: rating, long_watches: long_watches}) AS actions,
     max(coalesce(at, 0)) AS latest
UNWIND actions AS a
WITH a, latest,
     CASE a.kind
       WHEN 'FAVORITED' THEN $weight_favorite
       WHEN 'LIKED' THEN $weight_like
       WHEN 'PLAYLISTED' THEN $weight_playlist_add
       WHEN 'RATED' THEN
         CASE WHEN a.rating >= $rating_threshold
           THEN $weight_rate * (a.rating - $rating_threshold + 1) / (5.0 - $rating_threshold + 1)
         END
       WHEN 'WATCHED' THEN
         CASE WHEN coalesce(a.long_watches, 0) > 0 THEN $weight_long_watch ELSE $weight_watch END
     END AS base,
     CASE a.kind
       WHEN 'FAVORITED' THEN 'favorited'
       WHEN 'LIKED' THEN 'liked'
       WHEN 'PLAYLISTED' THEN 'added to a playlist'
       WHEN 'RATED' THEN 'rated ' +
         CASE WHEN a.rating = round(a.rating) THEN toString(toInteger(a.rating))
           ELSE toString(a.rating) END
       WHEN 'WATCHED' THEN
         CASE WHEN coalesce(a.long_watches, 0) > 0 THEN 'watched long' ELSE 'watched' END
     END AS reason
WITH a.v AS v, latest,
     collect({kind: a.kind, rating: a.rating, at: a.at, base: base, reason: reason}) AS acts
WHERE NOT any(x IN acts WHERE x.kind = 'RATED' AND coalesce(x.rating < $rating_threshold, false))
UNWIND acts AS x
WITH v, latest, x,
     CASE WHEN latest - coalesce(x.at, latest) > 0
       THEN (latest - coalesce(x.at, latest)) / 86400.0 ELSE 0.0 END AS age_days
WHERE x.base IS NOT NULL
WITH v, x, age_days,
     CASE WHEN $half_life_days > 0 THEN 0.5 ^ (age_days / $half_life_days) ELSE 1.0 END AS decay
WITH v, sum(x.base * decay) AS weight, collect(x.reason) AS reasons
RETURN v.video_id AS video_id, v.title AS title, weight,
       COLLECT { UNWIND reasons AS reason RETURN reason ORDER BY reason } AS reasons
ORDER BY weight DESC, video_id
LIMIT toInteger($max_seeds)
