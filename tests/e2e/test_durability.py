"""Acknowledged means durable: SIGKILL under load, SIGTERM drain, a store that cannot write."""

from __future__ import annotations

import random
import resource
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx

from haina.testing import create_workspace, export_events, start_server


class Load:
    """Threads posting batches with unique messageIds, remembering what was acknowledged."""

    def __init__(self, url: str, key: str, threads: int = 4, per_batch: int = 20) -> None:
        self.url, self.key, self.per_batch = url, key, per_batch
        self.acked: set[str] = set()
        self.refused: set[str] = set()
        self.statuses: list[int] = []
        self.retry_after: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _run(self) -> None:
        deadline = time.monotonic() + 60
        with httpx.Client(auth=(self.key, ""), timeout=10) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                ids = [uuid.uuid4().hex for _ in range(self.per_batch)]
                batch = [
                    {
                        "type": "track",
                        "event": "Load",
                        "userId": f"u{i % 50}",
                        "messageId": m,
                        "properties": {"n": i},
                    }
                    for i, m in enumerate(ids)
                ]
                try:
                    r = client.post(self.url + "/v1/batch", json={"batch": batch})
                except httpx.HTTPError:
                    continue  # connection died: nothing was acknowledged
                with self._lock:
                    self.statuses.append(r.status_code)
                    if r.status_code == 200:
                        self.acked.update(ids)
                    else:
                        self.refused.update(ids)
                        if "retry-after" in r.headers:
                            self.retry_after.append(r.headers["retry-after"])


def stored_ids(data_dir: Path, api_token: str) -> set[str]:
    server = start_server(data_dir)
    try:
        return {r["message_id"] for r in export_events(server.base_url, api_token)}
    finally:
        server.stop()


def test_every_acknowledged_event_survives_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ws = create_workspace(data, "crash")
    server = start_server(data)
    with Load(server.base_url, ws["write_key"]) as load:
        time.sleep(random.uniform(1.0, 3.0))
        server.kill()
    assert server.proc.returncode == -signal.SIGKILL
    assert len(load.acked) > 100, "the load did not get going"
    stored = stored_ids(data, ws["api_token"])
    missing = load.acked - stored
    assert not missing, f"{len(missing)} acknowledged events lost"


def test_sigterm_drains_in_flight_batches(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ws = create_workspace(data, "drain")
    server = start_server(data)
    with Load(server.base_url, ws["write_key"]) as load:
        time.sleep(1.0)
        code = server.stop(signal.SIGTERM)
    # uvicorn re-raises the signal after its graceful shutdown, so the exit status is -SIGTERM.
    assert code in (0, -signal.SIGTERM), server.log()
    # The lifespan shutdown ran: the writer drained, checkpointed and closed the file.
    wal = data / "events.duckdb.wal"
    assert not wal.exists() or wal.stat().st_size == 0
    assert not (data / "server.json").exists()
    assert load.acked
    assert load.acked <= stored_ids(data, ws["api_token"])


def _limit_file_size() -> None:
    # A "disk" that fills up: writes past 6 MB fail with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (6 << 20, 6 << 20))


def test_a_store_that_cannot_commit_answers_503_never_200(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ws = create_workspace(data, "full")
    server = start_server(data, preexec_fn=_limit_file_size)
    try:
        with Load(server.base_url, ws["write_key"], threads=2, per_batch=200) as load:
            deadline = time.monotonic() + 40
            while 503 not in load.statuses and time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        server.kill()
    assert 503 in load.statuses, f"statuses seen: {sorted(set(load.statuses))}"
    assert set(load.retry_after) == {"5"}
    assert set(load.statuses) <= {200, 503}
    stored = stored_ids(data, ws["api_token"])
    assert load.acked <= stored
    assert not (load.refused & stored), "an event answered 503 was stored after all"
