// Nodes by label and relationships by type of the ytgraph model; each count is answered from
// Neo4j's count store (no scan), which is why the labels and types are spelled out. RELATED and the Video count come from
// stats_related_degree instead: the count store would also count what a running load has staged.
MATCH (n:Video) RETURN 'node' AS kind, 'Video' AS name, count(n) AS count
UNION ALL
MATCH (n:User) RETURN 'node' AS kind, 'User' AS name, count(n) AS count
UNION ALL
MATCH (n:Channel) RETURN 'node' AS kind, 'Channel' AS name, count(n) AS count
UNION ALL
MATCH (n:Category) RETURN 'node' AS kind, 'Category' AS name, count(n) AS count
UNION ALL
MATCH ()-[r:YT_RELATED]->() RETURN 'relationship' AS kind, 'YT_RELATED' AS name, count(r) AS count
UNION ALL
MATCH ()-[r:WATCHED]->() RETURN 'relationship' AS kind, 'WATCHED' AS name, count(r) AS count
UNION ALL
MATCH ()-[r:LIKED]->() RETURN 'relationship' AS kind, 'LIKED' AS name, count(r) AS count
UNION ALL
MATCH ()-[r:FAVORITED]->() RETURN 'relationship' AS kind, 'FAVORITED' AS name, count(r) AS count
UNION ALL
MATCH ()-[r:RATED]->() RETURN 'relationship' AS kind, 'RATED' AS name, count(r) AS count
UNION ALL
MATCH ()-[r:PLAYLISTED]->() RETURN 'relationship' AS kind, 'PLAYLISTED' AS name, count(r) AS count
UNION ALL
MATCH ()-[r:UPLOADED_BY]->() RETURN 'relationship' AS kind, 'UPLOADED_BY' AS name, count(r) AS count
UNION ALL
MATCH ()-[r:IN_CATEGORY]->() RETURN 'relationship' AS kind, 'IN_CATEGORY' AS name, count(r) AS count
