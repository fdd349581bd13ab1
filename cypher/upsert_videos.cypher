// Videos with their metadata; `props` holds only the columns the input had (null removes a value).
UNWIND $rows AS row
MERGE (v:Video {video_id: row.video_id})
SET v += row.props
