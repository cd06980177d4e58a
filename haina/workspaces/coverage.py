"""Tracking-plan coverage: planned events that never fired, unplanned events, violations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb


def coverage(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, plan_doc: dict[str, Any]
) -> dict[str, Any]:
    """Counts over the last 7 and 30 days (by receivedAt) against the plan document."""
    now = datetime.now(UTC).replace(tzinfo=None)
    since_7, since_30 = now - timedelta(days=7), now - timedelta(days=30)
    seen = conn.execute(
        """SELECT type, coalesce(event, name) AS e,
                  count(*) FILTER (WHERE received_at >= ?),
                  count(*), max(received_at)
           FROM events WHERE workspace_id = ? AND type IN ('track', 'page', 'screen')
             AND received_at >= ?
             AND coalesce(event, name) IS NOT NULL
           GROUP BY ALL""",
        [since_7, workspace_id, since_30],
    ).fetchall()
    seen_map = {(t, e): (c7, c30, last) for t, e, c7, c30, last in seen}
    planned = {(e["type"], e["event"]) for e in plan_doc["events"]}
    never_7 = sorted(e for (t, e) in planned if seen_map.get((t, e), (0, 0, None))[0] == 0)
    never_30 = sorted(e for (t, e) in planned if (t, e) not in seen_map)
    unplanned = sorted(
        (
            {"type": t, "event": e, "count_30d": c30, "last_seen": last.isoformat() + "Z"}
            for (t, e), (_, c30, last) in seen_map.items()
            if (t, e) not in planned and t == "track"
        ),
        key=lambda d: -int(d["count_30d"]),
    )
    violations = conn.execute(
        """SELECT v.field, v.code, count(*) AS n FROM (
             SELECT unnest(from_json(plan_violations, '[{"field":"VARCHAR","code":"VARCHAR"}]'))
               AS v FROM events
             WHERE workspace_id = ? AND plan_violations IS NOT NULL
               AND received_at >= ?)
           GROUP BY ALL ORDER BY n DESC""",
        [workspace_id, since_30],
    ).fetchall()
    return {
        "planned_events": len(planned),
        "never_fired_7d": never_7,
        "never_fired_30d": never_30,
        "unplanned_events": unplanned,
        "violations_30d": [{"field": f, "code": c, "count": n} for f, c, n in violations],
    }
