// c_i: the number of sessions that hold each video (the denominator of relatedness).
UNWIND $rows AS row
MATCH (v:Video {video_id: row.video_id})
SET v.sessions = row.sessions
