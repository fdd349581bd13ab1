// (:Video)-[:UPLOADED_BY]->(:Channel): one channel per video; a changed channel replaces the old link.
UNWIND $rows AS row
MATCH (v:Video {video_id: row.video_id})
OPTIONAL MATCH (v)-[old:UPLOADED_BY]->(other:Channel) WHERE other.channel_id <> row.channel_id
DELETE old
WITH v, row
// Kept on the video too: candidate ranking reads it without a hop.
SET v.channel_id = row.channel_id
WITH v, row
MERGE (c:Channel {channel_id: row.channel_id})
MERGE (v)-[:UPLOADED_BY]->(c)
