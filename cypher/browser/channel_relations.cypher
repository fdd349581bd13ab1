// title: How a channel's videos relate to other channels
// description: Channel-to-channel counts of RELATED edges from this channel's videos: how many
//   edges land in each channel (null: videos with no channel), from and to how many distinct
//   videos, and their total co-views. A high same_channel share means the lists stay in-house.
// params: {"channel_id": "ch_a"}
// view: table
MATCH (c:Channel {channel_id: $channel_id})<-[:UPLOADED_BY]-(a:Video)-[r:RELATED]->(b:Video)
WHERE r.gen = a.rgen
OPTIONAL MATCH (b)-[:UPLOADED_BY]->(d:Channel)
RETURN d.channel_id AS to_channel, coalesce(d = c, false) AS same_channel,
       count(r) AS relations, count(DISTINCT a) AS from_videos, count(DISTINCT b) AS to_videos,
       sum(r.cooccurrences) AS cooccurrences
ORDER BY relations DESC, to_channel
