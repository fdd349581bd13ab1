// Recovery (auto-commit, in transactions of its own): delete every RELATED edge that is not its
// source's current list: what an interrupted load staged but never switched to (a source with no
// rgen yet included), or superseded edges it had not pruned yet. A full scan of RELATED, so a load
// runs it only when the meta node says a load stopped half-way (m.staging, m.pruning).
MATCH (a:Video)-[r:RELATED]->()
WHERE a.rgen IS NULL OR r.gen <> a.rgen
CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS
