"""CLI commands that read or write the event store: through a running server, or directly."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from haina.cli import (
    DataDir,
    HostOpt,
    PortOpt,
    WorkspaceOpt,
    _meta,
    _server_json,
    _workspace_id,
    app,
    err,
    fail,
    out,
    plan_app,
    quarantine_app,
    run_server,
    server_settings,
    settings_for,
)
from haina.local import local_collector, running_server


def _entries_table(entries: list[dict[str, Any]]) -> Table:
    table = Table("id", "received", "index", "field", "code", "reason", "status")
    for e in entries:
        table.add_row(
            e["id"],
            e["received_at"][:19],
            str(e["message_index"]),
            e["field"] or "",
            e["code"],
            e["reason"][:80],
            e["status"],
        )
    return table


@quarantine_app.command("list")
def quarantine_list(
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    status: Annotated[str | None, typer.Option(help="new, replayed or discarded")] = None,
    limit: int = 100,
    offset: int = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List quarantined messages, newest first."""
    settings = settings_for(data_dir)
    server = running_server(settings)
    if server is not None:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        entries = _server_json(server, "GET", "/api/v1/quarantine", workspace, params=params)[
            "entries"
        ]
    else:
        from haina.quarantine import list_entries

        ws = _workspace_id(settings, workspace)
        with local_collector(settings) as c:
            entries = [
                e.as_dict(with_payload=False)
                for e in list_entries(
                    c.writer.reader(), ws, status=status, limit=limit, offset=offset
                )
            ]
    if as_json:
        print(json.dumps(entries, ensure_ascii=False))
    else:
        out.print(_entries_table(entries))


@quarantine_app.command("show")
def quarantine_show(entry_id: str, workspace: WorkspaceOpt, data_dir: DataDir = None) -> None:
    """Show one quarantined message with its raw payload (JSON)."""
    settings = settings_for(data_dir)
    server = running_server(settings)
    if server is not None:
        entry = _server_json(server, "GET", f"/api/v1/quarantine/{entry_id}", workspace)
    else:
        from haina.quarantine import show_entry
        from haina.workspaces import NotFound

        ws = _workspace_id(settings, workspace)
        with local_collector(settings) as c:
            try:
                entry = show_entry(c.writer.reader(), ws, entry_id).as_dict()
            except NotFound as exc:
                fail(str(exc))
    print(json.dumps(entry, ensure_ascii=False, indent=2))


@quarantine_app.command("replay")
def quarantine_replay(
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    ids: Annotated[list[str] | None, typer.Argument(help="entries; default: every new one")] = None,
) -> None:
    """Re-run the pipeline on quarantined messages; those that pass are stored."""
    settings = settings_for(data_dir)
    server = running_server(settings)
    if server is not None:
        report = _server_json(
            server, "POST", "/api/v1/quarantine/replay", workspace, json={"ids": ids or None}
        )
    else:
        from haina.quarantine import replay

        ws = _workspace_id(settings, workspace)
        with local_collector(settings) as c:
            report = asyncio.run(replay(c, c.writer.reader(), ws, ids or None)).as_dict()
    print(json.dumps(report, ensure_ascii=False, indent=2))


@quarantine_app.command("discard")
def quarantine_discard(
    workspace: WorkspaceOpt,
    ids: Annotated[list[str], typer.Argument(help="entries to discard")],
    data_dir: DataDir = None,
) -> None:
    """Mark quarantined messages as discarded: kept for the record, never replayed."""
    settings = settings_for(data_dir)
    server = running_server(settings)
    if server is not None:
        n = _server_json(
            server, "POST", "/api/v1/quarantine/discard", workspace, json={"ids": ids}
        )["discarded"]
    else:
        from haina.quarantine import discard
        from haina.workspaces import NotFound

        ws = _workspace_id(settings, workspace)
        with local_collector(settings) as c:
            try:
                n = asyncio.run(discard(c, c.writer.reader(), ws, ids))
            except NotFound as exc:
                fail(str(exc))
    out.print(f"discarded {n}")


@app.command("export")
def export_cmd(
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write")] = Path(
        "events.ndjson"
    ),
    fmt: Annotated[str, typer.Option("--format", help="ndjson, csv or parquet")] = "ndjson",
    start: Annotated[datetime | None, typer.Option("--from", help="from (ISO-8601, UTC)")] = None,
    end: Annotated[datetime | None, typer.Option("--to", help="to, exclusive")] = None,
) -> None:
    """Export a workspace's raw events with every stored field."""
    from haina.export import FORMATS, export_to_file

    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}")
    settings = settings_for(data_dir)
    server = running_server(settings)
    if server is not None:
        params = {
            "format": fmt,
            **({"from": start.isoformat()} if start else {}),
            **({"to": end.isoformat()} if end else {}),
        }
        resp = server.request("GET", "/api/v1/events/export", workspace, params=params)
        if resp.status_code != 200:
            fail(f"the server answered {resp.status_code}: {resp.text[:200]}")
        output.write_bytes(resp.content)
        n = int(resp.headers.get("x-haina-rows", "0"))
    else:
        ws = _workspace_id(settings, workspace)
        with local_collector(settings) as c, c.writer.report_memory():
            n = export_to_file(c.writer.reader(), ws, fmt, output, start, end)
    err.print(f"{n} events written to {output}")


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    mapping: Annotated[Path | None, typer.Option(help="YAML/JSON column mapping file")] = None,
    map_: Annotated[
        list[str] | None, typer.Option("--map", help="target=column, repeatable")
    ] = None,
    event: Annotated[str | None, typer.Option("--event", help="fixed event name")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="csv or ndjson")] = None,
    source: Annotated[str, typer.Option(help="source name for these events")] = "import",
    contacts: Annotated[
        bool, typer.Option("--contacts", help="rows are people (identify calls), not events")
    ] = False,
) -> None:
    """Import offline behaviour (or, with --contacts, a contact list) from CSV or NDJSON, all
    rows in one transaction."""
    import yaml

    from haina.collect.service import import_batch
    from haina.importer import Mapping, rows_to_messages
    from haina.workspaces import source_by_name
    from haina.workspaces.plans import load_plan

    doc: dict[str, Any] = yaml.safe_load(mapping.read_text()) if mapping else {}
    for item in map_ or []:
        target, _, column = item.partition("=")
        if not column:
            fail(f"--map takes target=column, got {item!r}")
        doc[target] = column
    if event:
        doc["event_name"] = event
    if contacts:
        doc["contacts"] = True
    try:
        m = Mapping.from_dict(doc)
        kind = fmt or ("csv" if file.suffix.lower() == ".csv" else "ndjson")
        good, bad = rows_to_messages(file.read_bytes(), kind, m, file.name)
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"{file}: {exc}")
    errors = [{"line": b.line, "field": b.field, "reason": b.reason, "row": b.row} for b in bad]
    settings = settings_for(data_dir)
    server = running_server(settings)
    if server is not None:
        result = _server_json(
            server,
            "POST",
            "/api/v1/import",
            workspace,
            json={"items": good, "errors": errors, "file_name": file.name, "source": source},
        )
    else:
        ws = _workspace_id(settings, workspace)
        with local_collector(settings) as c:
            info = source_by_name(c.meta, ws, source, "import")
            batch, report = import_batch(c, info, load_plan(c.meta, ws), good, errors, file.name)
            written = c.writer.write(batch)
        result = {
            "stored": written.stored,
            "duplicates": written.duplicates,
            "quarantined": len(report),
            "errors": report,
        }
    for e in result["errors"]:
        err.print(f"{file.name}:{e['line']}: {e['field']}: {e['message']}", highlight=False)
    out.print(
        f"stored {result['stored']}, duplicates {result['duplicates']}, "
        f"quarantined {result['quarantined']}"
    )
    if result["quarantined"]:
        # The valid rows are stored; a non-zero status tells scripts some rows need attention.
        raise typer.Exit(2)


@plan_app.command("push")
def plan_push(
    file: Annotated[Path, typer.Argument(exists=True)],
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
) -> None:
    """Replace the workspace's tracking plan with a YAML file."""
    from haina.workspaces.plans import save_plan_yaml

    settings = settings_for(data_dir)
    try:
        n = save_plan_yaml(_meta(settings), _workspace_id(settings, workspace), file.read_text())
    except ValueError as exc:
        fail(str(exc))
    out.print(f"{n} planned events")


@plan_app.command("show")
def plan_show(workspace: WorkspaceOpt, data_dir: DataDir = None) -> None:
    """Print the tracking plan as YAML."""
    import yaml

    from haina.workspaces.plans import plan_document

    settings = settings_for(data_dir)
    doc = plan_document(_meta(settings), _workspace_id(settings, workspace))
    print(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


@plan_app.command("coverage")
def plan_coverage(workspace: WorkspaceOpt, data_dir: DataDir = None) -> None:
    """Planned events that never fired, unplanned events, violations by property."""
    from haina.workspaces.coverage import coverage
    from haina.workspaces.plans import plan_document

    settings = settings_for(data_dir)
    server = running_server(settings)
    if server is not None:
        report = _server_json(server, "GET", "/api/v1/tracking-plan/coverage", workspace)
    else:
        ws = _workspace_id(settings, workspace)
        with local_collector(settings) as c:
            report = coverage(c.writer.reader(), ws, plan_document(c.meta, ws))
    print(json.dumps(report, ensure_ascii=False, indent=2))


def fill_demo(
    settings: Any,
    workspace_id: str,
    users: int,
    days: int,
    seed: int,
    kind: str,
    end: datetime | None = None,
) -> int:
    """Generate the demo data set into a workspace (through the server when one runs)."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from haina.demo import estimate_events, generate
    from haina.demo.load import DemoRun, DemoTarget, fill
    from haina.workspaces import source_by_name

    run = DemoRun(users, days, seed, kind, end)  # type: ignore[arg-type]
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    server = running_server(settings)
    with Progress(*columns, console=err) as progress:
        task = progress.add_task("demo events", total=estimate_events(users, days, run.kind))
        if server is not None:
            stored = 0
            batches = generate(users, days, seed=seed, kind=run.kind, end=end, batch_size=2000)
            for batch in batches:
                items = list(enumerate(batch))
                r = _server_json(
                    server,
                    "POST",
                    "/api/v1/import",
                    workspace_id,
                    json={"items": items, "errors": [], "file_name": "demo", "source": "demo"},
                )
                stored += r["stored"]
                progress.advance(task, len(batch))
            return stored
        with local_collector(settings) as c:
            info = source_by_name(c.meta, workspace_id, "demo", "import")
            target = DemoTarget(
                info.workspace_id,
                info.source_id,
                info.source_kind,
                info.settings,
                time.time_ns() // 1000,
                settings.geoip_path,
            )
            report = fill(c.writer, target, run, lambda n: progress.advance(task, n))
        progress.update(task, total=report.generated, completed=report.generated)
    if report.rejected:
        err.print(f"[yellow]{report.rejected} generated messages were rejected[/yellow]")
    return report.stored


@app.command()
def demo(
    data_dir: DataDir = None,
    workspace: Annotated[str, typer.Option("--workspace", "-w")] = "demo",
    users: Annotated[int, typer.Option(help="distinct visitors")] = 2000,
    days: Annotated[int, typer.Option(help="days of history up to now")] = 30,
    seed: int = 42,
    kind: Annotated[str, typer.Option(help="shop or b2b")] = "shop",
) -> None:
    """Fill a workspace (created if missing) with a realistic, deterministic data set."""
    from haina.workspaces import NotFound, create_workspace, find_workspace

    if kind not in ("shop", "b2b"):
        fail("--kind must be shop or b2b")
    settings = settings_for(data_dir)
    meta = _meta(settings)
    try:
        ws_id = find_workspace(meta, workspace).id
    except NotFound:
        created = create_workspace(meta, workspace, "Asia/Shanghai")
        ws_id = created["workspace_id"]
        _save_demo_credentials(settings, created)
    n = fill_demo(settings, ws_id, users, days, seed, kind)
    out.print(f"stored {n} demo events in workspace {workspace}")


def _save_demo_credentials(settings: Any, created: dict[str, str]) -> None:
    import os

    path = settings.data_dir / "demo-credentials.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(created, f)


@app.command()
def up(
    data_dir: DataDir = None,
    host: HostOpt = None,
    port: PortOpt = None,
    users: Annotated[int, typer.Option(help="demo visitors, first start only")] = 10000,
    days: Annotated[int, typer.Option(help="demo days, first start only")] = 30,
) -> None:
    """Start Haina with a demo workspace (filled on first start) and print how to use it."""
    settings = server_settings(data_dir, host, port)
    creds_path = settings.data_dir / "demo-credentials.json"
    if not creds_path.exists():
        from haina.workspaces import create_workspace

        created = create_workspace(_meta(settings), "demo", "Asia/Shanghai")
        _save_demo_credentials(settings, created)
        err.print("Generating the demo workspace …")
        fill_demo(settings, created["workspace_id"], users, days, 42, "shop")
    creds = json.loads(creds_path.read_text())
    base = settings.public_url
    out.print(f"\n[bold]Haina[/bold] is starting at {base}  (API docs: {base}/docs)")
    out.print(f"  demo workspace  {creds['workspace_id']}")
    out.print(f"  write key       {creds['write_key']}")
    out.print(f"  API token       {creds['api_token']}")
    out.print(f"  dashboard       {base}/login  (log in with the API token; English / 简体中文)")
    out.print(
        f"  try it          curl -u {creds['write_key']}: {base}/v1/track -H "
        '\'Content-Type: application/json\' -d \'{"userId":"u1","event":"Hello"}\'\n'
    )
    run_server(settings)
