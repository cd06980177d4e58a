"""The `haina` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from haina.config import Settings
from haina.local import RunningServer, running_server

app = typer.Typer(
    help="Haina: collect, analyse and act on user behaviour.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
workspace_app = typer.Typer(help="Workspaces, sources and keys.", no_args_is_help=True)
quarantine_app = typer.Typer(
    help="Messages that failed, kept with their reason.", no_args_is_help=True
)
plan_app = typer.Typer(help="The tracking plan (埋点方案).", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(plan_app, name="plan")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", envvar="HAINA_DATA_DIR", help="data directory [default: ./haina-data]"
    ),
]
WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="workspace name or id")]


def settings_for(data_dir: Path | None, **kw: Any) -> Settings:
    from pydantic import ValidationError

    try:
        s = Settings(**kw)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"][:1])
        fail(f"invalid setting HAINA_{name.upper()}: {first['msg']}")
        raise
    if data_dir is not None:
        s.data_dir = data_dir
    return s


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _meta(settings: Settings) -> Any:
    from haina.store.meta import MetaStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return MetaStore(settings.resolved_metadata_url)


def _workspace_id(settings: Settings, name: str) -> str:
    from haina.workspaces import NotFound, find_workspace

    try:
        return find_workspace(_meta(settings), name).id
    except NotFound as exc:
        fail(str(exc))
        raise


def _server_json(server: RunningServer, method: str, path: str, workspace: str, **kw: Any) -> Any:
    resp = server.request(method, path, workspace, **kw)
    if resp.status_code >= 400:
        try:
            body = resp.json()
            fail(f"{body.get('message') or body}")
        except ValueError:
            fail(f"the server answered {resp.status_code}")
    return resp.json()


# -- serve --------------------------------------------------------------------------------


HostOpt = Annotated[
    str | None, typer.Option(help="address to listen on (default: HAINA_HOST or 127.0.0.1)")
]
PortOpt = Annotated[int | None, typer.Option(help="port (default: HAINA_PORT or 8000)")]


def server_settings(data_dir: Path | None, host: str | None, port: int | None) -> Settings:
    settings = settings_for(data_dir)
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    return settings


def run_server(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT; refuses clearly when the data directory is in use."""
    import uvicorn

    from haina.app import create_app
    from haina.collect.fastpath import CollectionFastPath
    from haina.store.events.duckdb_store import StoreUnavailable, open_duckdb

    if running_server(settings) is not None:
        fail(f"a Haina server already runs on {settings.data_dir}")
    try:
        open_duckdb(settings.events_path).close()  # fail here, in one line, if it is held
    except StoreUnavailable as exc:
        fail(str(exc))
    # The writer thread releases the GIL on every DuckDB call and must win it back from the
    # event loop; at the default 5 ms switch interval a commit takes about three times longer.
    sys.setswitchinterval(0.001)
    uvicorn.run(
        CollectionFastPath(create_app(settings)),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=30,
        # Haina reads X-Forwarded-For itself, from `trusted_proxies` only.
        proxy_headers=False,
    )


@app.command()
def serve(data_dir: DataDir = None, host: HostOpt = None, port: PortOpt = None) -> None:
    """Run the collection API and dashboard."""
    run_server(server_settings(data_dir, host, port))


# -- workspaces ---------------------------------------------------------------------------


@workspace_app.command("create")
def workspace_create(
    name: str,
    data_dir: DataDir = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone for reports")] = "UTC",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Create a workspace with a web source; prints its write key and API token (once)."""
    from haina.workspaces import create_workspace

    try:
        created = create_workspace(_meta(settings_for(data_dir)), name, timezone)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(created))
        return
    for k, v in created.items():
        out.print(f"{k:14} {v}")
    out.print("[dim]The API token is shown only now: keep it safe.[/dim]")


@workspace_app.command("list")
def workspace_list(data_dir: DataDir = None) -> None:
    """List workspaces."""
    from haina.workspaces import list_workspaces

    table = Table("id", "name", "timezone", "created")
    for ws in list_workspaces(_meta(settings_for(data_dir))):
        table.add_row(ws.id, ws.name, ws.timezone, ws.created_at.isoformat(timespec="seconds"))
    out.print(table)


@workspace_app.command("add-source")
def workspace_add_source(
    workspace: WorkspaceOpt,
    name: str,
    data_dir: DataDir = None,
    kind: Annotated[str, typer.Option(help="web, app, server or import")] = "server",
    plan_mode: Annotated[str, typer.Option(help="allow, flag or quarantine")] = "flag",
) -> None:
    """Add a source with its own write key to a workspace."""
    from haina.workspaces import create_source

    settings = settings_for(data_dir)
    try:
        source_id, key = create_source(
            _meta(settings), _workspace_id(settings, workspace), name, kind, plan_mode
        )
    except ValueError as exc:
        fail(str(exc))
    print(json.dumps({"source_id": source_id, "write_key": key}))


@workspace_app.command("set")
def workspace_set(
    workspace: WorkspaceOpt,
    assignments: Annotated[list[str], typer.Argument(help="name=value, e.g. anonymise_ip=false")],
    data_dir: DataDir = None,
) -> None:
    """Change workspace settings: anonymise_ip, site_search_params, own_hosts, ..."""
    from haina.workspaces.keys import effective_settings, update_settings

    settings = settings_for(data_dir)
    changes: dict[str, Any] = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep:
            fail(f"expected name=value, got {item!r}")
        changes[name.strip()] = value
    meta = _meta(settings)
    ws_id = _workspace_id(settings, workspace)
    try:
        update_settings(meta, ws_id, changes)
    except ValueError as exc:
        fail(str(exc))
    print(json.dumps(effective_settings(meta, ws_id), ensure_ascii=False))


@workspace_app.command("settings")
def workspace_show_settings(workspace: WorkspaceOpt, data_dir: DataDir = None) -> None:
    """Print the workspace's settings in force."""
    from haina.workspaces.keys import effective_settings

    settings = settings_for(data_dir)
    print(
        json.dumps(
            effective_settings(_meta(settings), _workspace_id(settings, workspace)),
            ensure_ascii=False,
        )
    )


@workspace_app.command("token-create")
def workspace_token_create(
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    role: Annotated[
        str, typer.Option(help="owner, admin, analyst, marketer, sales, ...")
    ] = "admin",
    name: Annotated[str, typer.Option(help="what the token is for")] = "",
) -> None:
    """Issue an API token (shown once, stored hashed)."""
    from haina.workspaces import create_api_token

    settings = settings_for(data_dir)
    try:
        token = create_api_token(_meta(settings), _workspace_id(settings, workspace), role, name)
    except ValueError as exc:
        fail(str(exc))
    print(token)


@workspace_app.command("tokens")
def workspace_tokens(
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List a workspace's API tokens (ids and prefixes; the tokens themselves are not kept)."""
    from haina.workspaces.keys import api_tokens_of

    settings = settings_for(data_dir)
    rows = [
        {
            "id": t.id,
            "prefix": f"hk_{t.prefix}_",
            "role": t.role,
            "name": t.name,
            "created_at": t.created_at.isoformat(timespec="seconds"),
            "revoked_at": t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else None,
        }
        for t in api_tokens_of(_meta(settings), _workspace_id(settings, workspace))
    ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("id", "prefix", "role", "name", "created", "revoked")
    for r in rows:
        table.add_row(
            *(str(r[k] or "") for k in ("id", "prefix", "role", "name", "created_at", "revoked_at"))
        )
    out.print(table)


@workspace_app.command("token-revoke")
def workspace_token_revoke(
    token_id: str, workspace: WorkspaceOpt, data_dir: DataDir = None
) -> None:
    """Revoke an API token by its id (see `haina workspace tokens`)."""
    from haina.workspaces import NotFound
    from haina.workspaces.keys import revoke_api_token

    settings = settings_for(data_dir)
    try:
        revoke_api_token(_meta(settings), _workspace_id(settings, workspace), token_id)
    except NotFound as exc:
        fail(str(exc))
    out.print("revoked")


@workspace_app.command("revoke-key")
def workspace_revoke_key(key: str, data_dir: DataDir = None) -> None:
    """Revoke a write key: requests with it get 401 within seconds."""
    from haina.workspaces import NotFound, revoke_write_key

    try:
        revoke_write_key(_meta(settings_for(data_dir)), key)
    except NotFound as exc:
        fail(str(exc))
    out.print("revoked")


@app.command()
def snippet(
    workspace: WorkspaceOpt,
    url: Annotated[str, typer.Option("--url", help="the address browsers reach Haina at")],
    data_dir: DataDir = None,
    consent_required: Annotated[bool, typer.Option(help="send nothing before consent")] = False,
    cookieless: Annotated[bool, typer.Option(help="no cookie or storage on the device")] = False,
) -> None:
    """Print the HTML snippet to paste into a site's pages."""
    from haina.web.snippet import snippet_html
    from haina.workspaces.keys import write_keys_of

    settings = settings_for(data_dir)
    keys = [
        k
        for k in write_keys_of(_meta(settings), _workspace_id(settings, workspace), kind="web")
        if k.revoked_at is None
    ]
    if not keys:
        fail("the workspace has no active write key of a web source")
    print(
        snippet_html(
            url.rstrip("/"), keys[0].key, consent_required=consent_required, cookieless=cookieless
        )
    )


from haina import cli_events, cli_profiles, cli_reports, cli_segments  # noqa: E402,F401  (registers commands)


def main() -> None:
    from haina.store.events.duckdb_store import StoreUnavailable

    try:
        app()
    except StoreUnavailable as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
