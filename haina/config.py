"""Settings for a Haina process: one class, read from the environment (HAINA_*) and the CLI."""

from __future__ import annotations

import os
import secrets
from ipaddress import ip_network
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SIZE = r"^\d+(\.\d+)?\s*[KMGT]?i?B$"


class Settings(BaseSettings):
    """Process-wide settings. Per-workspace settings live in the metadata store."""

    model_config = SettingsConfigDict(env_prefix="HAINA_", extra="ignore")

    data_dir: Path = Field(default=Path("haina-data"))
    host: str = "127.0.0.1"
    port: int = 8000
    # SQLAlchemy URL of the metadata store; default: SQLite file in the data directory.
    metadata_url: str | None = None
    geoip_path: Path | None = None
    # Collection limits (Segment's published limits).
    max_message_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    max_batch_messages: int = 2500
    # Bodies larger than this are refused without being read to the end or quarantined.
    max_body_bytes: int = 8 * 1024 * 1024
    dedup_days: int = Field(default=7, ge=7)
    # DuckDB's memory limit for the event store ("512MB", "2GB"); queries spill past it.
    duckdb_memory_limit: str = Field(default="512MB", pattern=_SIZE)
    # ... raised to this while reports (and stored-session refreshes) run: under the lower
    # limit they spill to disk and take 2-3 times as long (docs/benchmarks.md).
    duckdb_report_memory_limit: str = Field(default="1280MB", pattern=_SIZE)
    # WAL size at which DuckDB checkpoints inside a commit (that commit's requests wait).
    duckdb_checkpoint_threshold: str = Field(default="128MB", pattern=_SIZE)
    # A report query running longer than this is stopped with a clear error (seconds).
    report_timeout_seconds: float = Field(default=60.0, gt=0)
    # Report results kept in memory, keyed by query and the workspace's data version.
    report_cache_entries: int = Field(default=256, ge=0)
    # How often the server brings stored sessions up to date in the background (0: only
    # when a session report runs).
    stored_sessions_refresh_seconds: float = Field(default=10.0, ge=0)
    # How often tags, lead scores and dynamic segments are recomputed in the background for
    # workspaces with new data (0: never; segments are then current only when saved).
    people_refresh_seconds: float = Field(default=30.0, ge=0)
    # Group commit: the journal takes whatever has queued, up to this many rows at once.
    commit_max_rows: int = 50_000
    # Worker processes that decode and process large batches beside the event loop (0: none,
    # everything in the server process); batches of at least `collect_worker_min_bytes` go
    # there (docs/architecture.md).
    collect_workers: int = Field(default=2, ge=0, le=64)
    collect_worker_min_bytes: int = Field(default=16 * 1024, ge=0)
    # Proxies whose X-Forwarded-For is trusted to give the client IP.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    write_key_cache_seconds: float = 5.0
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "warning"

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR range") from None
        return value

    @property
    def events_path(self) -> Path:
        return self.data_dir / "events.duckdb"

    @property
    def resolved_metadata_url(self) -> str:
        if self.metadata_url:
            return self.metadata_url
        return f"sqlite:///{(self.data_dir / 'meta.sqlite3').resolve()}"

    @property
    def public_url(self) -> str:
        """Where this machine reaches the server (IPv6 in brackets, any-address as loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def server_file(self) -> Path:
        """Written by a running server so CLI commands can route through it."""
        return self.data_dir / "server.json"


def load_secret(data_dir: Path) -> bytes:
    """The installation's secret (cookieless salts), kept in a 0600 file, never in a database."""
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()
