"""Reaching the event store from the CLI: through a running server, or by opening the file.

DuckDB admits one writing process per file. When `haina serve` runs on the data directory it
leaves `server.json` (its URL and a per-start server token, mode 0600); commands that read or
write events then go through its API. Otherwise they open the file themselves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from haina.config import Settings

if TYPE_CHECKING:
    from haina.collect.service import Collector


@dataclass(frozen=True, slots=True)
class RunningServer:
    url: str
    token: str
    pid: int

    def request(self, method: str, path: str, workspace: str, **kw: Any) -> httpx.Response:
        params = dict(kw.pop("params", {}) or {})
        params["workspace"] = workspace
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, timeout=600) as client:
            return client.request(method, path, params=params, headers=headers, **kw)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_server(settings: Settings) -> RunningServer | None:
    """The server running on this data directory, if any (and answering)."""
    try:
        info = json.loads(settings.server_file.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not _alive(int(info.get("pid", 0))):
        return None
    server = RunningServer(str(info["url"]), str(info["token"]), int(info["pid"]))
    try:
        httpx.get(server.url + "/healthz", timeout=5).raise_for_status()
    except httpx.HTTPError:
        return None
    return server


@contextmanager
def local_collector(settings: Settings) -> Iterator[Collector]:
    """A collector writing straight to the event file (no server running)."""
    from haina.collect.service import Collector

    collector = Collector.open(settings)
    try:
        yield collector
    finally:
        collector.writer.close()
        collector.meta.close()
