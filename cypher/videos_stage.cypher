// Before a load stages its lists: the videos they name must be nodes. One that is new is marked
// staged with the load's list generation; the switch (ensure_videos) takes the mark off, and a load
// that never switches deletes what it marked (videos_unstage, or related_recover after a kill).
UNWIND $rows AS id
MERGE (v:Video {video_id: id})
  ON CREATE SET v.staged = $gen
