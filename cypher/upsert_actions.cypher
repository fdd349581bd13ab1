// Explicit actions: LIKED, FAVORITED, PLAYLISTED {at}, RATED {rating, at} (the latest rating wins).
// One statement for all four: each row names its kind, and FOREACH picks the relationship type.
UNWIND $rows AS row
MERGE (u:User {user_id: row.user_id})
WITH u, row
MATCH (v:Video {video_id: row.video_id})
FOREACH (_ IN CASE WHEN row.kind = 'like' THEN [1] ELSE [] END |
  MERGE (u)-[r:LIKED]->(v) SET r.at = row.at, r.count = row.count)
FOREACH (_ IN CASE WHEN row.kind = 'favorite' THEN [1] ELSE [] END |
  MERGE (u)-[r:FAVORITED]->(v) SET r.at = row.at, r.count = row.count)
FOREACH (_ IN CASE WHEN row.kind = 'playlist_add' THEN [1] ELSE [] END |
  MERGE (u)-[r:PLAYLISTED]->(v) SET r.at = row.at, r.count = row.count)
FOREACH (_ IN CASE WHEN row.kind = 'rate' THEN [1] ELSE [] END |
  MERGE (u)-[r:RATED]->(v) SET r.at = row.at, r.rating = row.rating, r.count = row.count)
