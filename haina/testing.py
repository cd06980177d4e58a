"""Test helpers that extensions can reuse: a real Haina server process on loopback.

Nothing here is mocked: `start_server` runs `haina serve` in a subprocess on a free port with
its own data directory, and the helpers talk to it over HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from haina.config import Settings
from haina.store.meta import MetaStore

HAINA = [sys.executable, "-m", "haina"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def run_cli(
    data_dir: Path,
    *args: str,
    check: bool = True,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    cmd = [*HAINA, *args, "--data-dir", str(data_dir)]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=input,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def create_workspace(data_dir: Path, name: str) -> dict[str, str]:
    """`haina workspace create NAME --json`: workspace_id, write_key, api_token."""
    created: dict[str, str] = json.loads(
        run_cli(data_dir, "workspace", "create", name, "--json").stdout
    )
    return created


def start_server(
    data_dir: Path,
    port: int | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 30,
    preexec_fn: Any = None,
) -> ServerProcess:
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"server-{port}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [
                *HAINA,
                "serve",
                "--data-dir",
                str(data_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            preexec_fn=preexec_fn,
        )
    server = ServerProcess(data_dir, port, proc, log_path, env or {})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"haina serve exited with {proc.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"haina serve did not start within {timeout}s:\n{server.log()}")


def export_events(base_url: str, api_token: str, **params: str) -> list[dict[str, Any]]:
    """Every stored event of the token's workspace, via the export API (NDJSON)."""
    resp = httpx.get(
        base_url + "/api/v1/events/export",
        params={"format": "ndjson", **params},
        headers={"Authorization": f"Bearer {api_token}"},
        timeout=60,
    )
    resp.raise_for_status()
    rows = [json.loads(line) for line in resp.text.split("\n") if line.strip()]
    for row in rows:
        for col in ("properties", "traits", "context", "extra", "plan_violations"):
            if isinstance(row.get(col), str):
                row[col] = json.loads(row[col])
    return rows


def wait_for_events(
    base_url: str, api_token: str, predicate: Any, timeout: float = 10
) -> list[dict[str, Any]]:
    """Poll the export until `predicate(rows)` holds; returns the rows (or raises)."""
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = export_events(base_url, api_token)
        if predicate(rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s; {len(rows)} events stored")


def csrf_of(html: str) -> str:
    """The CSRF token in a dashboard page's forms."""
    import re

    found = re.search(r'name="csrf" value="([^"]+)"', html)
    if found is None:
        raise AssertionError("no CSRF token in the page")
    return found[1]


def dashboard_login(
    base_url: str, api_token: str, client: httpx.Client | None = None
) -> httpx.Client:
    """An HTTP client logged in to the dashboard with an API token (as a browser would be):
    it fetches the login form for its CSRF token and posts the token. Raises on refusal."""
    client = client or httpx.Client(base_url=base_url, timeout=30)
    form = client.get("/login")
    resp = client.post("/login", data={"csrf": csrf_of(form.text), "token": api_token})
    if resp.status_code != 303:
        raise AssertionError(f"login refused: {resp.status_code}")
    return client


@dataclass
class LiveServer:
    """A Haina app served by uvicorn on loopback in a thread of the test process."""

    url: str
    settings: Settings
    meta: MetaStore
    app: Any

    def workspace(self, name: str) -> dict[str, str]:
        from haina.workspaces import create_workspace

        return create_workspace(self.meta, name)

    def events(self, api_token: str) -> list[dict[str, Any]]:
        return export_events(self.url, api_token)

    def quarantine(self, api_token: str) -> list[dict[str, Any]]:
        r = httpx.get(
            self.url + "/api/v1/quarantine",
            params={"limit": 1000},
            headers={"Authorization": f"Bearer {api_token}"},
        )
        r.raise_for_status()
        entries: list[dict[str, Any]] = r.json()["entries"]
        return entries


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    import uvicorn

    from haina.app import create_app
    from haina.collect.fastpath import CollectionFastPath

    app = create_app(settings)
    config = uvicorn.Config(
        CollectionFastPath(app),  # as `haina serve` runs it
        host="127.0.0.1",
        port=settings.port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    meta = MetaStore(settings.resolved_metadata_url)
    try:
        yield LiveServer(f"http://127.0.0.1:{settings.port}", settings, meta, app)
    finally:
        server.should_exit = True
        thread.join(30)
        meta.close()


def demo_events(
    users: int,
    days: int,
    end: Any,
    *,
    kind: str = "shop",
    seed: int = 42,
    workspace_id: str = "ws_demo",
) -> Any:
    """The demo data set as an Arrow table of stored events (the real pipeline, one process):
    the fixture that report tests load into DuckDB and into chdb alike."""
    import pyarrow as pa

    from haina.demo import generate
    from haina.pipeline.run import IngestContext, process
    from haina.store.events.duckdb_store import events_table
    from haina.workspaces import WorkspaceSettings

    ctx = IngestContext(
        workspace_id=workspace_id,
        source_id="src_demo",
        source_kind="import",
        settings=WorkspaceSettings(),
        received_at_us=int(end.timestamp() * 1e6),
    )
    tables = [
        events_table(process(batch, ctx).rows)
        for batch in generate(users, days, seed=seed, kind=kind, end=end)  # type: ignore[arg-type]
    ]
    return pa.concat_tables(tables)
