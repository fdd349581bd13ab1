// A load that rebuilt the counts, or moved the catalogue's figures, marks every stored pool stale.
MATCH (u:User)
WHERE u.recs IS NOT NULL
SET u.recs_stale = true
