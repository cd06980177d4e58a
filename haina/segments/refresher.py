"""Keeps what is derived about people current in the server.

Every `interval` seconds (after a lull in collection, or at the latest `max_delay` seconds
later), for each workspace whose data changed (or every `max_age` seconds anyway: windows such
as "in the last 30 days" and score decay move with the clock), it recomputes, in this order,
the rule and inferred tags, the lead scores and the dynamic segments (which may use both), and
stores the lifecycle-stage and segment changes as events of the people."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from haina.profiles import tags
from haina.profiles.events import record
from haina.scoring import engine as scoring
from haina.scoring.model import ScoringModel
from haina.segments import service
from haina.store.events.duckdb_store import GroupCommitWriter
from haina.store.meta import MetaStore
from haina.workspaces import list_workspaces, workspace_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Round:
    tags: int = 0  # tags that appeared or disappeared
    scores: int = 0  # scores, grades or stages that changed
    segments: int = 0  # segment memberships that changed
    events: int = 0  # events recorded (stage and segment changes)


class PeopleRefresher:
    def __init__(
        self,
        meta: MetaStore,
        writer: GroupCommitWriter,
        interval: float = 30.0,
        max_age: float = 600.0,
        lull: float = 2.0,
        max_delay: float = 60.0,
    ) -> None:
        self.meta = meta
        self.writer = writer
        self.interval = interval
        self.max_age = max_age
        # Collection goes first: a round waits for `lull` seconds without commits, unless
        # what it owes is `max_delay` seconds old (tags follow events within about a minute).
        self.lull = lull
        self.max_delay = max_delay
        self._owed_since: float | None = None
        self._seen: dict[str, tuple[int, float]] = {}  # workspace → (data version, when)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="people", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("refreshing tags, scores and segments failed")

    def tick(self, *, force: bool = False) -> dict[str, Round]:
        """One round over the workspaces that need it (all with `force`)."""
        done: dict[str, Round] = {}
        now = time.monotonic()
        if not force:
            self._owed_since = self._owed_since or now
            busy = self.writer.idle_seconds() < self.lull
            if busy and now - self._owed_since < self.max_delay:
                return done
        self._owed_since = None
        with self._lock:
            for ws in [w.id for w in list_workspaces(self.meta)]:
                if self._stop.is_set():
                    break
                version, now = self.writer.data_version(ws), time.monotonic()
                seen = self._seen.get(ws)
                if not force and seen and seen[0] == version and now - seen[1] < self.max_age:
                    continue
                done[ws] = self.refresh(ws)
                # Our own events bumped the version: the next round need not look again.
                self._seen[ws] = (self.writer.data_version(ws), now)
        return done

    def refresh(self, workspace_id: str) -> Round:
        settings = workspace_settings(self.meta, workspace_id)
        rules = settings.identity
        tag_rules = [
            (r["tag"], r["tag"], r["definition"]) for r in settings.extra.get("tag_rules", [])
        ]
        inference = tags.Inference.from_json(settings.extra.get("tags"))
        model = ScoringModel.model_validate(settings.extra.get("scoring") or {})
        conn = self.writer.reader()
        try:
            with self.writer.report_memory():
                _, tag_changes = tags.refresh(conn, workspace_id, rules, tag_rules, inference)
                scored = scoring.refresh(conn, workspace_id, rules, model)
                changes = service.refresh_dynamic(self.meta, conn, workspace_id, rules)
            items = [*scored.stage_events, *service.change_events(changes)]
            n = record(self.writer, conn, workspace_id, settings, items, "haina-people")
        finally:
            conn.close()
        return Round(tag_changes, scored.changed, len(changes), n)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
