"""Shared fixtures: a real Haina server on loopback (in a thread), workspaces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from haina.config import Settings
from haina.testing import LiveServer, free_port, live_server


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", port=free_port(), write_key_cache_seconds=0, trusted_proxies=[]
    )


@pytest.fixture
def live(server_settings: Settings) -> Iterator[LiveServer]:
    with live_server(server_settings) as server:
        yield server


@pytest.fixture
def ws(live: LiveServer) -> dict[str, str]:
    return live.workspace("shop")
