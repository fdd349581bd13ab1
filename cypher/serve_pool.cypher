// One visit (paper 2.5): the stored pool's header and the $n items to show, in one round trip.
// With $rotate the items are those the user was shown least (times in User.shown), ties by pool
// rank, as serve.rotate picks them; without it, the first $n. Only those items cross the wire.
// The stale mark and key say whether the pool may be served; `shown` lets a pool computed online
// be rotated the same way.
OPTIONAL MATCH (u:User {user_id: $user_id})
WITH u, coalesce(u.recs_ids, []) AS ids, coalesce(u.shown, []) AS shown
CALL (ids, shown) {
  UNWIND range(0, size(ids) - 1) AS i
  WITH i, CASE WHEN $rotate THEN size([s IN shown WHERE s = ids[i]]) ELSE 0 END AS times
  ORDER BY times, i
  LIMIT $n
  RETURN collect(i) AS picked
}
RETURN u.recs AS header, u.recs_key AS recs_key, coalesce(u.recs_stale, false) AS stale, shown,
       [i IN range(0, size(ids) - 1) WHERE i IN picked | u.recs_items[i]] AS items
