"""Keeps dynamic segments current in the server: every `interval` seconds, for each workspace
with dynamic segments whose data changed (or every `max_age` seconds anyway, since windows
such as "in the last 30 days" move with the clock), re-evaluate them and store who entered
and who left as `segment entered` / `segment exited` events."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import select

from haina.pipeline.run import IngestContext, process
from haina.segments import service
from haina.store.events.duckdb_store import GroupCommitWriter, WriteBatch
from haina.store.meta import MetaStore
from haina.store.meta.models import Segment
from haina.workspaces import workspace_settings

log = logging.getLogger(__name__)
SOURCE_ID = "haina-segments"


class SegmentRefresher:
    def __init__(
        self,
        meta: MetaStore,
        writer: GroupCommitWriter,
        interval: float = 60.0,
        max_age: float = 600.0,
    ) -> None:
        self.meta = meta
        self.writer = writer
        self.interval = interval
        self.max_age = max_age
        self._seen: dict[str, tuple[int, float]] = {}  # workspace → (data version, when)
        self._stop = threading.Event()
        self.changes = 0  # membership changes recorded so far (for tests and logs)
        self._thread = threading.Thread(target=self._loop, name="segments", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("refreshing segments failed")

    def tick(self, *, force: bool = False) -> int:
        """One round; returns the membership changes it recorded."""
        with self.meta.session() as s:
            workspaces = sorted(
                set(s.scalars(select(Segment.workspace_id).where(Segment.kind == "dynamic")))
            )
        total = 0
        for ws in workspaces:
            if self._stop.is_set():
                break
            version, now = self.writer.data_version(ws), time.monotonic()
            seen = self._seen.get(ws)
            if not force and seen and seen[0] == version and now - seen[1] < self.max_age:
                continue
            total += self.refresh(ws)
            self._seen[ws] = (self.writer.data_version(ws), now)
        self.changes += total
        return total

    def refresh(self, workspace_id: str) -> int:
        settings = workspace_settings(self.meta, workspace_id)
        conn = self.writer.reader()
        try:
            with self.writer.report_memory():
                changes = service.refresh_dynamic(self.meta, conn, workspace_id, settings.identity)
            messages = service.change_messages(conn, workspace_id, changes)
        finally:
            conn.close()
        if messages:
            now_us = int(datetime.now(UTC).timestamp() * 1_000_000)
            ctx = IngestContext(workspace_id, SOURCE_ID, "server", settings, now_us)
            out = process(messages, ctx)
            if out.rejects:
                log.warning("segment change events rejected: %s", out.rejects[:3])
            self.writer.write(WriteBatch(events=out.rows))
        return len(changes)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
