"""Report results cached per query and invalidated as data arrives.

The key holds the workspace's data version (it grows with every commit holding the
workspace's events), the report settings and the normalised query; a query without an end
date also holds the current minute, since "up to now" moves.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any

from haina.query.scope import ReportQuery, ReportSettings

NEVER_CACHED = frozenset({"realtime"})


class ReportCache:
    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def key(
        self, workspace_id: str, q: ReportQuery, settings: ReportSettings, version: int
    ) -> str | None:
        kind = str(getattr(q, "kind", ""))
        if kind in NEVER_CACHED or self.max_entries == 0:
            return None
        minute = int(time.time() // 60) if q.date_to is None else None
        body = q.model_dump(mode="json")
        return json.dumps(
            [workspace_id, kind, body, repr(settings), version, minute], sort_keys=True
        )

    def get(self, key: str | None) -> dict[str, Any] | None:
        if key is None:
            return None
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: str | None, result: dict[str, Any]) -> None:
        if key is None:
            return
        with self._lock:
            self._items[key] = result
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
