WITH ev AS (SELECT person, ts, uuid, event_name, type, event, path, url, title, search_keyword, TRUE AS sel, (ts >= {p2:DateTime64(6, 'UTC')} AND ts <= {p3:DateTime64(6, 'UTC')}) AS in_range FROM session_events WHERE workspace_id = {p0:String} AND ts >= {p4:DateTime64(6, 'UTC')} AND ts <= {p3:DateTime64(6, 'UTC')} AND event_name IN {p8:Array(String)}),
fe AS (SELECT * FROM ev WHERE sel),
fm AS (SELECT person, toUnixTimestamp64Micro(ts) AS t, uuid, (CASE WHEN (type = 'track' AND event = {p5:String}) THEN 1 ELSE 0 END + CASE WHEN (type = 'track' AND event = {p6:String}) THEN 2 ELSE 0 END) AS steps, (CASE WHEN (type = 'track' AND event = {p7:String}) THEN 1 ELSE 0 END) AS excl, NULL AS bvalue FROM fe WHERE in_range),
fp AS (SELECT DISTINCT person AS fperson FROM fm WHERE steps % 2 = 1)
SELECT person, t, uuid, steps, excl, bvalue FROM fm JOIN fp ON fm.person = fp.fperson WHERE steps > 0 OR excl > 0 LIMIT 5000001
