// How long the related lists are: how many videos keep 0, 1, 2, ... RELATED edges.
MATCH (v:Video)
WITH COUNT { (v)-[:RELATED]->() } AS degree
RETURN degree, count(*) AS videos
ORDER BY degree
