// Whether the database holds no node at all (from the count store: no scan). Only an empty graph
// may be filled by neo4j-admin import, which replaces the whole store.
MATCH (n)
RETURN count(n) = 0 AS empty
