// How long the related lists are: how many videos keep 0, 1, 2, ... RELATED edges in their current
// list (a load's staged lists are not counted until it switches to them).
MATCH (v:Video)
WHERE v.staged IS NULL
WITH COUNT { (v)-[r:RELATED]->() WHERE r.gen = v.rgen } AS degree
RETURN degree, count(*) AS videos
ORDER BY degree
