"""`haina report KIND`: any report as a table (or JSON), through the server or on the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from haina.cli import (
    DataDir,
    WorkspaceOpt,
    _server_json,
    _workspace_id,
    app,
    fail,
    out,
    settings_for,
)
from haina.config import Settings
from haina.local import local_collector, running_server
from haina.query.scope import ReportQuery


@app.command("report")
def report_cmd(
    kind: Annotated[str, typer.Argument(help="overview, sources, pages, paths, funnel, ...")],
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    body: Annotated[str | None, typer.Option(help="the query body as JSON")] = None,
    body_file: Annotated[Path | None, typer.Option(help="a file holding the JSON body")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="local date(-time)")] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="local date(-time), inclusive")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON result")] = False,
) -> None:
    """Run a report (the same query body as POST /api/v1/reports/KIND) and print it."""
    from haina.reports.registry import reports

    known = reports()
    if kind not in known:
        fail(f"unknown report {kind!r}; known: {', '.join(sorted(known))}")
    query = _body(body, body_file)
    query.update({k: v for k, v in (("date_from", date_from), ("date_to", date_to)) if v})
    try:
        parsed = known[kind].query.model_validate(query)
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"invalid body: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    settings = settings_for(data_dir)
    server = running_server(settings)
    if server is not None:
        result = _server_json(server, "POST", f"/api/v1/reports/{kind}", workspace, json=query)
    else:
        result = _local(settings, workspace, parsed)
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    for table in tables_of(result):
        out.print(table)


def _body(body: str | None, body_file: Path | None) -> dict[str, Any]:
    text = body_file.read_text() if body_file else body or "{}"
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(f"the body is not JSON: {exc}")
    if not isinstance(value, dict):
        fail("the body must be a JSON object")
    return dict(value)


def _local(settings: Settings, workspace: str, parsed: ReportQuery) -> dict[str, Any]:
    from haina.query.engine import QueryTooLarge
    from haina.reports.service import run_for_workspace

    ws = _workspace_id(settings, workspace)
    with local_collector(settings) as c:
        try:
            return run_for_workspace(
                c.meta,
                c.writer.reader(),
                ws,
                parsed,
                timeout=settings.report_timeout_seconds,
                memory=c.writer.report_memory,
            )
        except (QueryTooLarge, ValueError) as exc:
            fail(str(exc))
    raise AssertionError("unreachable")


def tables_of(result: dict[str, Any]) -> list[Table]:
    """Every flat part of a result as a table: totals as name/value, lists of rows as rows."""
    tables = []
    for name, value in result.items():
        if name == "sql":
            continue
        if isinstance(value, dict) and value and all(_flat(v) for v in value.values()):
            t = Table("metric", "value", title=name)
            for k, v in value.items():
                t.add_row(k, _cell(v))
            tables.append(t)
        elif isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            columns = [k for k, v in value[0].items() if _flat(v)]
            t = Table(*columns, title=name)
            for row in value:
                t.add_row(*(_cell(row.get(c)) for c in columns))
            tables.append(t)
    return tables


def _flat(value: Any) -> bool:
    if isinstance(value, list):
        return all(_flat(v) and not isinstance(v, list) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list):
        return " → ".join(_cell(v) for v in value)  # a path, a list of values
    return str(value)
