// (:Video)-[:IN_CATEGORY]->(:Category): one category per video; a changed category replaces the old link.
UNWIND $rows AS row
MATCH (v:Video {video_id: row.video_id})
OPTIONAL MATCH (v)-[old:IN_CATEGORY]->(other:Category) WHERE other.name <> row.category
DELETE old
WITH v, row
// Kept on the video too: candidate ranking reads it without a hop.
SET v.category = row.category
WITH v, row
MERGE (c:Category {name: row.category})
MERGE (v)-[:IN_CATEGORY]->(c)
