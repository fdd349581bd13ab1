// The first half of a wipe (auto-commit): every relationship, 10,000 to a transaction. Deleting
// nodes with DETACH alone would put all relationships of 10,000 nodes (a popular video has
// thousands) in one transaction: on a 10M-event graph that outgrew the default heap.
MATCH ()-[r]->()
CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS
