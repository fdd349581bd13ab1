// Recovery (auto-commit): the videos an interrupted load created for lists it never switched to.
MATCH (v:Video)
WHERE v.staged IS NOT NULL
CALL (v) { DETACH DELETE v } IN TRANSACTIONS OF 10000 ROWS
