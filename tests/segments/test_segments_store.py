"""Segments on a real event file, fed through the pipeline and the commit path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from haina.identity.rules import IdentityRules
from haina.pipeline.run import IngestContext, process
from haina.segments.definition import SegmentDefinition
from haina.segments.service import evaluate
from haina.store.events.duckdb_store import WriteBatch, commit, open_duckdb
from haina.workspaces import WorkspaceSettings

UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def test_a_count_condition_on_a_file_store(tmp_path: Path) -> None:
    """Regression: with `sum(CASE ...)` counts, DuckDB 2.0 proved `count >= 2` empty on this
    data (three pageviews of /pricing) and answered nobody; counts use count_if."""
    now = datetime.now(UTC)
    messages = [
        *[{"type": "track", "event": "Product Viewed", "userId": "u1",
           "timestamp": (now - timedelta(hours=3)).isoformat(),
           "properties": {"category": "electronics"}} for _ in range(3)],
        *[{"type": "page", "anonymousId": "a1",
           "timestamp": (now - timedelta(hours=8 - i)).isoformat(),
           "properties": {"path": "/pricing"}} for i in range(3)],
    ]  # fmt: skip
    messages = [{**m, "context": {"userAgent": UA}} for m in messages]
    conn = open_duckdb(tmp_path / "events.duckdb")
    ctx = IngestContext("w", "s", "web", WorkspaceSettings(), int(now.timestamp() * 1e6))
    commit(conn, WriteBatch(events=process(messages, ctx).rows))
    definition = SegmentDefinition.model_validate(
        {"conditions": [{"kind": "event", "event": "$pageview", "count": {"op": "gte", "value": 2},
                         "filters": [{"key": "$path", "op": "eq", "value": "/pricing"}]}]}
    )  # fmt: skip
    people = evaluate(conn, "w", IdentityRules(), definition)
    assert len(people) == 1
