// After the switch: delete the superseded edges (gen <> a.rgen) of a batch of sources. Readers
// no longer follow them, so this runs in transactions of its own, a batch at a time.
UNWIND $rows AS id
MATCH (a:Video {video_id: id})-[r:RELATED]->()
WHERE r.gen <> a.rgen
DELETE r
