"""The embedded event store: one DuckDB file, written by one thread with group commit.

Every request hands its rows to `GroupCommitWriter.submit` and waits; the writer thread drains
whatever has queued, writes it in ONE transaction (dedup, events, quarantine), commits — DuckDB
fsyncs its WAL on commit — and only then resolves the waiting requests. Concurrent requests
therefore share one fsync, and a 200 is never sent for an event that is not on disk.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from haina.store.events.schema import (
    DERIVED_TABLES,
    EVENT_ARROW_SCHEMA,
    EVENT_COLUMN_NAMES,
    QUARANTINE_ARROW_SCHEMA,
    QUARANTINE_COLUMN_NAMES,
    ddl,
)

log = logging.getLogger("haina.store")

Columns = dict[str, list[Any]]


class StoreUnavailable(RuntimeError):
    """The store cannot commit right now (disk full, read-only, locked, closed)."""


class StoreLocked(StoreUnavailable):
    """Another process holds the DuckDB file."""


def empty_columns(names: Sequence[str] = EVENT_COLUMN_NAMES) -> Columns:
    return {c: [] for c in names}


@dataclass(slots=True)
class WriteBatch:
    """What one request wants committed: event rows (columnar) and quarantine rows."""

    events: Columns = field(default_factory=empty_columns)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    # (quarantine id, new status) applied in the same transaction, e.g. after a replay
    quarantine_status: list[tuple[str, str]] = field(default_factory=list)
    # Event rows already in Arrow form (EVENT_ARROW_SCHEMA), e.g. built in another process.
    tables: list[pa.Table] = field(default_factory=list)

    @property
    def event_count(self) -> int:
        return len(self.events["message_id"]) + sum(int(t.num_rows) for t in self.tables)

    def event_keys(self) -> Iterator[tuple[str, str]]:
        yield from zip(self.events["workspace_id"], self.events["message_id"], strict=True)
        for t in self.tables:
            yield from zip(t["workspace_id"].to_pylist(), t["message_id"].to_pylist(), strict=True)


@dataclass(frozen=True, slots=True)
class WriteResult:
    stored: int
    duplicates: int
    quarantined: int
    # message ids (per row of the batch) that were duplicates of earlier messages
    duplicate_ids: frozenset[str] = frozenset()


# Measured (docs/benchmarks.md): 256 MB costs RSS and multi-second stalls, 32 MB frequent
# 1 s stalls; 128 MB was best of the three. Settable: HAINA_DUCKDB_CHECKPOINT_THRESHOLD.
CHECKPOINT_THRESHOLD = "128MB"
IDLE_CHECKPOINT_SECONDS = 5.0
IDLE_CHECKPOINT_WAL_BYTES = 16 << 20


def open_duckdb(
    path: Path,
    *,
    read_only: bool = False,
    memory_limit: str | None = None,
    checkpoint_threshold: str = CHECKPOINT_THRESHOLD,
) -> duckdb.DuckDBPyConnection:
    """Open (and create) the event file, with a clear error when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreLocked(
                f"the event store {path} is in use by another process ({exc}). Stop that "
                "process, or run this command while `haina serve` is running so it goes "
                "through the server."
            ) from exc
        raise StoreUnavailable(str(exc)) from exc
    if not read_only:
        _drop_stale_derived(conn)
        for stmt in ddl():
            conn.execute(stmt)
        # DuckDB checkpoints every 16 MB of WAL by default: for an append-heavy store that is
        # a compression pass every few thousand events. The writer checkpoints when idle.
        conn.execute(f"SET checkpoint_threshold = '{checkpoint_threshold}'")
    if memory_limit:
        # DuckDB's default is 80% of RAM; big queries spill to disk past the limit.
        conn.execute(f"SET memory_limit = '{memory_limit}'")
    return conn


def _drop_stale_derived(conn: duckdb.DuckDBPyConnection) -> None:
    """Derived tables (stored sessions) are a cache of `events`: one whose columns are not
    this version's is dropped (ddl() recreates it, the next report re-derives it)."""
    have: dict[str, list[str]] = {}
    for table, column in conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall():
        have.setdefault(table, []).append(column)
    stale = [
        name
        for name, cols in DERIVED_TABLES.items()
        if name in have and have[name] != [c for c, _ in cols]
    ]
    for name in stale:
        conn.execute(f"DROP TABLE {name}")
    if stale and "derive_state" not in stale and "derive_state" in have:
        conn.execute("DELETE FROM derive_state")


def _micros(values: list[Any]) -> pa.Array:
    return pa.array(values, pa.int64()).cast(pa.timestamp("us"))


def _arrow_table(cols: Columns, schema: pa.Schema) -> pa.Table:
    """Columns of Python values → an Arrow table; times arrive as epoch microseconds."""
    arrays = [
        _micros(cols[f.name]) if f.type == pa.timestamp("us") else pa.array(cols[f.name], f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def events_table(cols: Columns) -> pa.Table:
    return _arrow_table(cols, EVENT_ARROW_SCHEMA)


def quarantine_table(rows: list[dict[str, Any]]) -> pa.Table:
    cols = {c: [r.get(c) for r in rows] for c in QUARANTINE_COLUMN_NAMES}
    return _arrow_table(cols, QUARANTINE_ARROW_SCHEMA)


def _merge(batches: list[WriteBatch]) -> WriteBatch:
    if len(batches) == 1:
        return batches[0]
    out = WriteBatch()
    for b in batches:
        for c, values in b.events.items():
            out.events[c].extend(values)
        out.quarantine.extend(b.quarantine)
        out.quarantine_status.extend(b.quarantine_status)
        out.tables.extend(b.tables)
    return out


Key = tuple[str, str]  # (workspace_id, message_id)


def _first_occurrences(cols: Columns) -> Columns:
    """Drop repeats of a (workspace, messageId) inside one batch; the first one wins."""
    keys = list(zip(cols["workspace_id"], cols["message_id"], strict=True))
    if len(set(keys)) == len(keys):
        return cols
    seen: set[Key] = set()
    keep = []
    for i, k in enumerate(keys):
        if k not in seen:
            seen.add(k)
            keep.append(i)
    return {c: [values[i] for i in keep] for c, values in cols.items()}


def _first_rows(table: pa.Table) -> pa.Table:
    """Keep the first row of each (workspace, messageId) in an Arrow table."""
    keys = list(
        zip(table["workspace_id"].to_pylist(), table["message_id"].to_pylist(), strict=True)
    )
    if len(set(keys)) == len(keys):
        return table
    seen: set[Key] = set()
    mask = []
    for k in keys:
        mask.append(k not in seen)
        seen.add(k)
    return table.filter(pa.array(mask))


def commit(conn: duckdb.DuckDBPyConnection, batch: WriteBatch) -> set[Key]:
    """Write one batch in one transaction; returns the (workspace, messageId) keys stored.

    Events whose key was stored before (within the dedup window) are skipped.
    """
    events = _first_occurrences(batch.events)
    tables = [events_table(events)] if events["message_id"] else []
    tables += [t for t in batch.tables if t.num_rows]
    n = sum(int(t.num_rows) for t in tables)
    fresh: set[Key] = set()
    # Statements are joined into as few calls as possible: each call releases the GIL and
    # must win it back from the event loop (measured: 25-30% less time per commit).
    registered = []
    try:
        head = "BEGIN TRANSACTION"
        if n:
            # One contiguous chunk: DuckDB scans many small Arrow chunks far more slowly
            # (measured: 30 chunks of 100 rows 61 ms a commit, one of 3,000 rows 36 ms).
            incoming = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
            incoming = incoming.combine_chunks()
            if batch.tables:  # pre-built tables (several submitters) may repeat a key
                incoming = _first_rows(incoming)
                n = int(incoming.num_rows)
            conn.register("incoming", incoming)
            registered.append("incoming")
            head += (
                "; INSERT INTO dedup SELECT workspace_id, message_id, received_at "
                "FROM incoming ON CONFLICT DO NOTHING RETURNING workspace_id, message_id"
            )
            fresh = set(conn.execute(head).fetchall())
        else:
            conn.execute(head)
        tail = []
        if n and len(fresh) == n:
            tail.append("INSERT INTO events SELECT * FROM incoming")
            tail.append(_ENQUEUE.format(source="incoming"))
        elif fresh:
            w, m = zip(*fresh, strict=True)
            conn.register("fresh", pa.table({"w": list(w), "m": list(m)}))
            registered.append("fresh")
            stored = "incoming i SEMI JOIN fresh f ON i.workspace_id = f.w AND i.message_id = f.m"
            tail.append(f"INSERT INTO events SELECT i.* FROM {stored}")
            tail.append(_ENQUEUE.format(source=stored))
        if batch.quarantine:
            conn.register("q_incoming", quarantine_table(batch.quarantine))
            registered.append("q_incoming")
            tail.append("INSERT INTO quarantine SELECT * FROM q_incoming")
        if batch.quarantine_status:
            now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
            for qid, status in batch.quarantine_status:
                when = f"TIMESTAMP '{now}'" if status == "replayed" else "NULL"
                tail.append(
                    f"UPDATE quarantine SET status = {_literal(status)}, replayed_at = {when} "
                    f"WHERE id = {_literal(qid)}"
                )
        tail.append("COMMIT")
        conn.execute("; ".join(tail))
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            conn.execute("ROLLBACK")
        raise
    finally:
        for name in registered:
            with contextlib.suppress(duckdb.Error):
                conn.unregister(name)
    return fresh


# The identifiers a commit touched, with their earliest event time: the next refresh of the
# stored sessions re-derives those people from there (haina/query/stored.py).
_ENQUEUE = (
    "INSERT INTO derive_queue SELECT workspace_id, anonymous_id, user_id, min(timestamp) "
    "FROM {source} GROUP BY workspace_id, anonymous_id, user_id"
)


def _literal(text: str) -> str:
    """A SQL string literal (statements joined in one call cannot take parameters)."""
    return "'" + text.replace("'", "''") + "'"


def results_for(batches: list[WriteBatch], fresh: set[Key]) -> list[WriteResult]:
    """What each request of a shared commit stored; a key counts for its first request."""
    claimed: set[Key] = set()
    out = []
    for b in batches:
        stored = 0
        dups: set[str] = set()
        for k in b.event_keys():
            if k in fresh and k not in claimed:
                claimed.add(k)
                stored += 1
            else:
                dups.add(k[1])
        out.append(WriteResult(stored, b.event_count - stored, len(b.quarantine), frozenset(dups)))
    return out


@dataclass(slots=True)
class _Job:
    batch: WriteBatch
    future: Future[WriteResult]


class MemoryLease:
    """DuckDB has one `memory_limit` per database: collection runs under the low one (the
    server's RSS stays small), reports under a higher one while any of them runs (a report
    that spills to disk under the low limit takes 2-3 times as long)."""

    def __init__(self, cursor: Any, base: str | None, high: str | None) -> None:
        self._cursor, self._base, self._high = cursor, base, high
        self._lock = threading.Lock()
        self._holders = 0

    def rebind(self, cursor: Any) -> None:
        """After the writer reopened the file."""
        with self._lock:
            self._cursor = cursor

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if not self._high or not self._base:
            yield
            return
        with self._lock:
            self._holders += 1
            if self._holders == 1:
                self._cursor.execute(f"SET memory_limit = '{self._high}'")
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0:
                    with contextlib.suppress(duckdb.Error):
                        self._cursor.execute(f"SET memory_limit = '{self._base}'")


class GroupCommitWriter:
    """One thread owns the writing connection; requests share its transactions."""

    def __init__(
        self,
        path: Path,
        *,
        max_rows: int = 50_000,
        dedup_days: int = 7,
        memory_limit: str | None = None,
        report_memory_limit: str | None = None,
        checkpoint_threshold: str = CHECKPOINT_THRESHOLD,
    ) -> None:
        self.path = path
        self.max_rows = max_rows
        self.dedup_days = dedup_days
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._open_options: dict[str, Any] = {
            "memory_limit": memory_limit,
            "checkpoint_threshold": checkpoint_threshold,
        }
        self._conn: duckdb.DuckDBPyConnection | None = open_duckdb(path, **self._open_options)
        self._read_root = self._conn.cursor()
        self._read_lock = threading.Lock()
        # Reports and stored-session refreshes run inside `with writer.report_memory():`.
        self.report_memory = MemoryLease(self._conn.cursor(), memory_limit, report_memory_limit)
        self._last_prune = float("-inf")  # prune on the first commit, then hourly
        self._closed = False
        # Per workspace, a number that grows with every commit holding its events: report
        # caches key on it, so what they hold is invalidated as data arrives.
        self._versions: dict[str, int] = {}
        self.last_commit = time.monotonic()  # when a commit last finished (see idle_seconds)
        self._thread = threading.Thread(target=self._run, name="haina-writer", daemon=True)
        self._thread.start()

    def reader(self) -> duckdb.DuckDBPyConnection:
        """A connection for reads in this process (MVCC: sees committed data)."""
        with self._read_lock:
            return self._read_root.cursor()

    def idle_seconds(self) -> float:
        """Seconds since the last commit finished (background work waits for a lull)."""
        return time.monotonic() - self.last_commit

    def data_version(self, workspace_id: str) -> int:
        return self._versions.get(workspace_id, 0)

    def _bump_versions(self, batches: list[WriteBatch]) -> None:
        seen: set[str] = set()
        for b in batches:
            seen.update(v for v in b.events["workspace_id"][:1] if v)
            for t in b.tables:
                seen.update(str(v) for v in pc.unique(t.column("workspace_id")).to_pylist() if v)
        for ws in seen:
            self._versions[ws] = self._versions.get(ws, 0) + 1

    def submit(self, batch: WriteBatch) -> Future[WriteResult]:
        fut: Future[WriteResult] = Future()
        if self._closed:
            fut.set_exception(StoreUnavailable("the store is shutting down"))
            return fut
        self._queue.put(_Job(batch, fut))
        return fut

    def write(self, batch: WriteBatch, timeout: float | None = None) -> WriteResult:
        return self.submit(batch).result(timeout)

    def close(self) -> None:
        """Drain what is queued, then checkpoint and close the file."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        self._read_root.close()
        if self._conn is not None:
            try:
                self._conn.execute("CHECKPOINT")
            except duckdb.Error:
                log.exception("checkpoint on close failed")
            self._conn.close()
            self._conn = None

    def _take(self, first: _Job) -> tuple[list[_Job], bool]:
        jobs, rows, stop = [first], first.batch.event_count, False
        while rows < self.max_rows:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                stop = True
                break
            jobs.append(job)
            rows += job.batch.event_count
        return jobs, stop

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_CHECKPOINT_SECONDS)
            except queue.Empty:
                self._idle_checkpoint()
                continue
            if first is None:
                return
            jobs, stop = self._take(first)
            self._maybe_prune()
            self._commit_jobs(jobs)
            if stop:
                return

    def _commit_jobs(self, jobs: list[_Job]) -> None:
        try:
            if self._conn is None:
                self._conn = open_duckdb(self.path, **self._open_options)
                with self._read_lock:
                    self._read_root = self._conn.cursor()
                self.report_memory.rebind(self._conn.cursor())
            batches = [j.batch for j in jobs]
            fresh = commit(self._conn, _merge(batches))
        except Exception as exc:  # noqa: BLE001 - every failure means "not stored"
            log.error("commit failed, answering 503: %s", exc)
            self._reset_connection()
            err = StoreUnavailable(f"the event store could not commit: {exc}")
            for j in jobs:
                j.future.set_exception(err)
            return
        self._bump_versions(batches)
        self.last_commit = time.monotonic()
        for job, result in zip(jobs, results_for(batches, fresh), strict=True):
            job.future.set_result(result)

    def _idle_checkpoint(self) -> None:
        """Fold the WAL into the file while nothing is waiting, so restarts replay little."""
        wal = self.path.with_name(self.path.name + ".wal")
        try:
            size = wal.stat().st_size
        except FileNotFoundError:
            return  # nothing written since the last checkpoint
        if self._conn is None or size <= IDLE_CHECKPOINT_WAL_BYTES:
            return
        try:
            self._conn.execute("CHECKPOINT")
        except duckdb.Error as exc:
            log.warning("idle checkpoint skipped: %s", exc)

    def _reset_connection(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute("SELECT 1").fetchall()
        except duckdb.Error:
            # A fatal error invalidates the database instance; reopen on the next commit.
            with contextlib.suppress(duckdb.Error):
                self._conn.close()
            self._conn = None

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < 3600 or self._conn is None:
            return
        self._last_prune = now
        cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=self.dedup_days + 1)
        try:
            self._conn.execute("DELETE FROM dedup WHERE received_at < ?", [cutoff])
        except duckdb.Error:
            log.exception("pruning the dedup table failed")
