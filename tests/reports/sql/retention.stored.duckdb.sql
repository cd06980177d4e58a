WITH ev AS (SELECT pnum AS person, ts, uuid, event_name, type, event, path, url, title, search_keyword, TRUE AS sel, (ts >= $p2 AND ts <= $p3) AS in_range FROM session_events WHERE workspace_id = $p0 AND ts >= $p4 AND ts <= $p3 AND event_name IN $p8),
fe AS (SELECT * FROM ev WHERE sel),
rv AS MATERIALIZED (SELECT person, ts, uuid, (type = 'page') AS is_s, (type = 'page') AS is_r, (type = 'page') AS is_s0, '' AS bd, CAST(floor((((epoch_us(ts) + $p5) // 86400000000) - 4) / 7) AS BIGINT) AS pn FROM fe WHERE (type = 'page')),
st AS (SELECT DISTINCT person, bd, pn AS c FROM rv WHERE is_s AND pn BETWEEN $p6 AND $p7),
rt AS (SELECT person, bd AS bd, pn AS r FROM rv WHERE is_r AND pn BETWEEN $p6 AND $p7 GROUP BY person, bd, pn HAVING count(*) >= $p10),
hits AS (SELECT st.person AS person, st.bd AS bd, st.c AS c, rt.r - st.c AS k FROM st JOIN rt ON rt.person = st.person AND rt.bd = st.bd WHERE rt.r > st.c AND rt.r - st.c < $p9)
SELECT part, bd, c, k, n FROM (SELECT 0 AS part, bd, c, CAST(0 AS BIGINT) AS k, count(*) AS n FROM st GROUP BY bd, c UNION ALL SELECT 1 AS part, bd, c, CAST(k AS BIGINT) AS k, count(*) AS n FROM hits GROUP BY bd, c, k) counts ORDER BY part, bd, c, k
