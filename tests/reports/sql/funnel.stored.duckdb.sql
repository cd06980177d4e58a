WITH ev AS (SELECT pnum AS person, ts, uuid, event_name, type, event, path, url, title, search_keyword, TRUE AS sel, (ts >= $p2 AND ts <= $p3) AS in_range FROM session_events WHERE workspace_id = $p0 AND ts >= $p4 AND ts <= $p3 AND event_name IN $p8),
fe AS (SELECT * FROM ev WHERE sel),
fm AS (SELECT person, epoch_us(ts) AS t, uuid, (CASE WHEN (type = 'track' AND event = $p5) THEN 1 ELSE 0 END + CASE WHEN (type = 'track' AND event = $p6) THEN 2 ELSE 0 END) AS steps, (CASE WHEN (type = 'track' AND event = $p7) THEN 1 ELSE 0 END) AS excl, NULL AS bvalue FROM fe WHERE in_range)
SELECT person, t, steps, excl, bvalue FROM fm WHERE steps > 0 OR excl > 0 LIMIT 5000001
