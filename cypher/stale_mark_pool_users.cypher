// A load marks stale the stored pools that hold a video whose quality moved. $moved is a map
// {video_id: true}: a map lookup per pool item, not a scan of a list.
MATCH (u:User)
WHERE u.recs_ids IS NOT NULL AND NOT coalesce(u.recs_stale, false)
  AND any(v IN u.recs_ids WHERE $moved[v] IS NOT NULL)
SET u.recs_stale = true
