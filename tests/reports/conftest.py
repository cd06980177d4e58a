"""The demo data set in DuckDB and in chdb, and a way to run a report on both.

Every report test goes through `both(kind, body)`: it runs the report on each engine and
fails unless the results (everything but the SQL text) are identical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from chdb import session as chdb_session

from haina.identity.rules import IdentityRules
from haina.identity.store import rebuild_on
from haina.query import ChdbEngine, DuckDBEngine, Engine, ReportContext, ReportSettings
from haina.query.stored import refresh
from haina.reports.registry import reports, run_report
from haina.store.events.clickhouse import insert_arrow
from haina.store.events.schema import ddl
from haina.testing import demo_events

WORKSPACE = "ws_demo"
END = datetime(2026, 11, 20, 12, tzinfo=UTC)  # the data set's last hour
NOW = datetime(2026, 11, 20, 12)  # the reports' clock (naive UTC)
SETTINGS = ReportSettings(
    timezone="Asia/Shanghai", conversion_events=("Order Completed", "Demo Requested")
)
RunBoth = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def demo_table() -> pa.Table:
    shop = demo_events(300, 21, END, kind="shop", workspace_id=WORKSPACE)
    b2b = demo_events(120, 21, END, kind="b2b", seed=7, workspace_id="ws_b2b")
    return pa.concat_tables([shop, b2b])


def load_duckdb(table: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for statement in ddl():
        con.execute(statement)
    con.register("incoming", table)
    con.execute("INSERT INTO events SELECT * FROM incoming")
    con.unregister("incoming")
    return con


def load_chdb(table: pa.Table) -> Any:
    s = chdb_session.Session()
    insert_arrow(s, table)
    return s


def build_identity(engines: dict[str, Engine], table: pa.Table) -> None:
    """The identity graph of every workspace in `table`, on every engine (reports resolve
    people through it)."""
    for ws in set(table.column("workspace_id").to_pylist()):
        for engine in engines.values():
            rebuild_on(engine, ws, IdentityRules())


@pytest.fixture(scope="session")
def engines(demo_table: pa.Table) -> Iterator[dict[str, Engine]]:
    con = load_duckdb(demo_table)
    ch = load_chdb(demo_table)
    both = {"duckdb": DuckDBEngine(con), "chdb": ChdbEngine(ch)}
    build_identity(both, demo_table)
    yield both
    con.close()
    ch.close()


def _without_sql(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_sql(v) for k, v in value.items() if k != "sql"}
    if isinstance(value, list):
        return [_without_sql(v) for v in value]
    return value


def run_everywhere(
    engines: dict[str, Engine],
    kind: str,
    body: dict[str, Any],
    settings: ReportSettings,
    workspace: str,
    now: datetime = NOW,
) -> dict[str, Any]:
    """Run a report on every engine and, for a session report, once more on the stored
    sessions (refreshed for `settings` first): every result must be the same (SQL aside).
    Returns DuckDB's result, SQL included, from sessions derived at query time."""
    results = {
        name: run_report(ReportContext(engine, workspace, settings, now), kind, body)
        for name, engine in engines.items()
    }
    if reports()[kind].stored_sessions:
        for name, engine in engines.items():
            refresh(engine, workspace, settings)
            ctx = ReportContext(engine, workspace, settings, now, stored=True)
            results[f"{name} (stored sessions)"] = run_report(ctx, kind, body)
    first = _without_sql(results["duckdb"])
    for name, result in results.items():
        assert _without_sql(result) == first, f"{kind}: {name} differs from duckdb"
    return results["duckdb"]


@pytest.fixture(scope="session")
def both(engines: dict[str, Engine]) -> RunBoth:
    def run(
        kind: str,
        body: dict[str, Any],
        settings: ReportSettings = SETTINGS,
        workspace: str = WORKSPACE,
    ) -> dict[str, Any]:
        return run_everywhere(engines, kind, body, settings, workspace)

    return run


_made = iter(range(1_000_000))


def make_events(rows: list[dict[str, Any]], workspace: str | None = None) -> pa.Table:
    """A hand-made events table: each row gives some columns (`ts` as 'YYYY-MM-DD HH:MM:SS'
    UTC, properties as a dict); message ids are generated in row order.

    chdb keeps one database per process (every Session sees the same `events` table), so each
    call gets a workspace of its own unless one is named."""
    workspace = workspace or f"ws_t{next(_made)}"
    import json

    from haina.store.events.schema import EVENT_ARROW_SCHEMA

    columns: dict[str, list[Any]] = {name: [] for name in EVENT_ARROW_SCHEMA.names}
    for i, row in enumerate(rows):
        ts = datetime.fromisoformat(row["ts"])
        values = {
            "workspace_id": workspace,
            "message_id": row.get("message_id", f"m{i:05d}"),
            "type": row.get("type", "page"),
            "timestamp": ts,
            "received_at": ts,
            **{k: v for k, v in row.items() if k not in ("ts", "properties", "traits")},
        }
        for key in ("properties", "traits"):
            if key in row:
                values[key] = json.dumps(row[key])
        for name in columns:
            columns[name].append(values.get(name))
    return pa.Table.from_pydict(columns, schema=EVENT_ARROW_SCHEMA)


class Engines(dict[str, Engine]):
    """Both engines holding one hand-made table, and the workspace its rows belong to."""

    workspace: str


def engines_for(table: pa.Table) -> Engines:
    engines = Engines(duckdb=DuckDBEngine(load_duckdb(table)), chdb=ChdbEngine(load_chdb(table)))
    engines.workspace = str(table.column("workspace_id")[0]) if table.num_rows else "ws_t"
    build_identity(engines, table)
    return engines


def run_on(
    engines: Engines,
    kind: str,
    body: dict[str, Any],
    settings: ReportSettings = SETTINGS,
    workspace: str | None = None,
) -> dict[str, Any]:
    """Run on every engine of `engines_for(...)` (and stored sessions); results must agree."""
    return _without_sql(
        run_everywhere(engines, kind, body, settings, workspace or engines.workspace)
    )
