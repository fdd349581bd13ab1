// The switch: point each source at the list generation a load staged ($gen). Run inside the load's
// last transaction, so readers see every new list, or none of them. A source whose new list is
// empty is switched too: its old edges are then invisible, as if deleted.
UNWIND $rows AS id
MATCH (a:Video {video_id: id})
SET a.rgen = $gen
