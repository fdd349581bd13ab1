// Graphs written before list generations existed: their edges become generation 0, with their
// sources (auto-commit, in transactions of its own). Runs once, when the meta node lacks m.gen.
MATCH (a:Video)-[r:RELATED]->()
WHERE r.gen IS NULL OR a.rgen IS NULL
CALL (a, r) { SET r.gen = coalesce(r.gen, 0), a.rgen = coalesce(a.rgen, 0) } IN TRANSACTIONS OF 10000 ROWS
