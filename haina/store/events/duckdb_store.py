"""The embedded event store: one DuckDB file, fed through a journal with group commit.

Every request hands its rows to `GroupCommitWriter.submit` and waits; the journal thread
drains whatever has queued, appends it as ONE record to the journal (haina/store/events/
journal.py), fsyncs, and only then resolves the waiting requests: concurrent requests share
one fsync, and a 200 is never sent for an event that is not on disk. The loader thread appends
the journal to DuckDB in large transactions (dedup, events, quarantine and the journal
position in each), away from the requests: DuckDB's commit and checkpoint costs do not reach
them. Reads wait until what was acknowledged before them is loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from haina.store.events import journal
from haina.store.events.journal import JournalWriter, Position
from haina.store.events.recent import DAY_US, HASH_SQL, RecentKeys, hashes_of
from haina.store.events.schema import (
    DERIVED_TABLES,
    EVENT_ARROW_SCHEMA,
    EVENT_COLUMN_NAMES,
    EVENT_COLUMNS,
    KEPT_TABLES,
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
    # Event rows already encoded for the journal, by a collection worker process.
    encoded: list[EncodedRows] = field(default_factory=list)

    @property
    def event_count(self) -> int:
        return (
            len(self.events["message_id"])
            + sum(int(t.num_rows) for t in self.tables)
            + sum(len(e.message_ids) for e in self.encoded)
        )

    def event_keys(self) -> Iterator[tuple[str, str]]:
        yield from zip(self.events["workspace_id"], self.events["message_id"], strict=True)
        for t in self.tables:
            yield from zip(t["workspace_id"].to_pylist(), t["message_id"].to_pylist(), strict=True)
        for e in self.encoded:
            for m in e.message_ids:
                yield e.workspace_id, m


@dataclass(frozen=True, slots=True)
class EncodedRows:
    """One workspace's event rows as `journal.encode_columns` makes them, with their messageIds
    and key hashes (`recent.hashes_of`, as bytes), made where the pipeline ran."""

    blob: bytes
    workspace_id: str
    message_ids: list[str]
    hashes: bytes

    @classmethod
    def of(cls, workspace_id: str, cols: Columns) -> EncodedRows:
        ids = cols["message_id"]
        hashes = hashes_of([(workspace_id, m) for m in ids])
        return cls(journal.encode_columns(cols), workspace_id, list(ids), hashes.tobytes())

    def kept(self, mask: np.ndarray) -> bytes | None:
        """The blob with only the rows where `mask` is true."""
        if mask.all():
            return self.blob
        if not mask.any():
            return None
        keep = np.flatnonzero(mask).tolist()
        cols = journal.decode_columns(self.blob)
        return journal.encode_columns({c: [v[i] for i in keep] for c, v in cols.items()})


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
JOURNAL_KEY = "journal_position"  # store_meta: how far the journal is loaded
# Rows acknowledged but not yet in DuckDB; past this, acknowledgements wait for the loader
# (the journal, about 1 KB a row on disk, cannot run ahead without bound).
MAX_BACKLOG_ROWS = 2_000_000
# Of the backlog, at most this many bytes of encoded rows stay in memory; the rest is read back
# from the journal by the loader (the page cache usually still has it).
MAX_HELD_BYTES = 64 << 20
# Rows per load transaction: past ~10,000 a DuckDB commit costs no less per row, and the
# loader holds them as Python values for a moment (memory).
LOAD_MAX_ROWS = 10_000
# The loader gathers records for up to this long before a DuckDB commit (a commit costs
# 11-15 ms however small); a waiting reader cuts the wait short.
LOAD_DELAY_SECONDS = 1.0


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
        _add_new_event_columns(conn)
        # DuckDB checkpoints every 16 MB of WAL by default: for an append-heavy store that is
        # a compression pass every few thousand events. The writer checkpoints when idle.
        conn.execute(f"SET checkpoint_threshold = '{checkpoint_threshold}'")
    if memory_limit:
        # DuckDB's default is 80% of RAM; big queries spill to disk past the limit.
        conn.execute(f"SET memory_limit = '{memory_limit}'")
    return conn


def _add_new_event_columns(conn: duckdb.DuckDBPyConnection) -> None:
    """Columns added to `events` since the file was made are added at its end (in order,
    so `INSERT INTO events SELECT *` still lines up); older rows read NULL."""
    have = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = 'events'"
        ).fetchall()
    }
    for name, kind in EVENT_COLUMNS:
        if name not in have:
            conn.execute(f'ALTER TABLE events ADD COLUMN "{name}" {kind}')


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
    conn.execute("DROP TABLE IF EXISTS derive_ids")  # an older version's, replaced by the graph
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


def _tables_of(blobs: list[bytes], chunk_rows: int = 1024) -> list[pa.Table]:
    """Journaled event rows as Arrow tables of about `chunk_rows` rows: each conversion holds
    the GIL for a short while only (the requests need it; `commit` joins the chunks without
    it), and tiny records (single-event requests) still convert in bulk."""
    tables: list[pa.Table] = []
    cols: Columns = empty_columns()
    for blob in blobs:
        decoded = journal.decode_columns(blob)
        n = len(decoded["message_id"])
        for c, values in cols.items():
            # A record journaled by an older version lacks the columns added since.
            values.extend(decoded.get(c) or [None] * n)
        if len(cols["message_id"]) >= chunk_rows:
            tables.append(events_table(cols))
            cols = empty_columns()
    if cols["message_id"]:
        tables.append(events_table(cols))
    return tables


@contextlib.contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN … COMMIT around the block; ROLLBACK (and re-raise) when it fails."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def insert_rows(conn: duckdb.DuckDBPyConnection, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert Python rows into one of the store's derived or kept tables through Arrow
    (`executemany` costs ~150 us a row: minutes for the scores of a million people)."""
    if not rows:
        return
    columns = {**DERIVED_TABLES, **KEPT_TABLES}[table]
    arrow = {"VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("us"), "DOUBLE": pa.float64(),
             "BIGINT": pa.int64(), "BOOLEAN": pa.bool_()}  # fmt: skip
    data = pa.table(
        {
            name: pa.array([r[i] for r in rows], arrow[kind])
            for i, (name, kind) in enumerate(columns)
        }
    )
    name = f"q_insert_{table}"
    conn.register(name, data)
    try:
        conn.execute(f"INSERT INTO {table} SELECT * FROM {name}")
    finally:
        conn.unregister(name)


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
        out.encoded.extend(b.encoded)
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


def commit(
    conn: duckdb.DuckDBPyConnection, batch: WriteBatch, position: Position | None = None
) -> set[Key]:
    """Write one batch in one transaction; returns the (workspace, messageId) keys stored.

    Events whose key was stored before (within the dedup window) are skipped. `position`: the
    batch is journal records, loaded up to there (recorded in the same transaction); their keys
    are distinct already (`RecentKeys`), and no keys are returned (Python objects for 50,000
    keys would hold the GIL that the requests need).
    """
    events = batch.events if position is not None else _first_occurrences(batch.events)
    tables = [events_table(events)] if events["message_id"] else []
    tables += [t for t in batch.tables if t.num_rows]
    n = sum(int(t.num_rows) for t in tables)
    fresh = pa.table({"workspace_id": pa.array([], pa.string())})
    # Statements are joined into as few calls as possible: each call releases the GIL and
    # must win it back from the event loop (measured: 25-30% less time per commit).
    registered = []
    try:
        head = "BEGIN TRANSACTION"
        if n:
            incoming = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
            if n < 2048 * len(tables):
                # One contiguous chunk: DuckDB scans many small Arrow chunks far more slowly
                # (measured: 30 chunks of 100 rows 61 ms a commit, one of 3,000 rows 36 ms).
                incoming = incoming.combine_chunks()
            if batch.tables and position is None:  # tables of several submitters
                incoming = _first_rows(incoming)  # may repeat a key
                n = int(incoming.num_rows)
            conn.register("incoming", incoming)
            registered.append("incoming")
            head += (
                "; INSERT INTO dedup SELECT workspace_id, message_id, received_at "
                "FROM incoming ON CONFLICT DO NOTHING RETURNING workspace_id, message_id"
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "an extra copy": two short columns
                fresh = conn.execute(head).to_arrow_table()
        else:
            conn.execute(head)
        tail = []
        if n and fresh.num_rows == n:
            tail.append("INSERT INTO events SELECT * FROM incoming")
            tail.append(_ENQUEUE.format(source="incoming"))
            tail.append(_ENQUEUE_IDS.format(source="incoming"))
        elif fresh.num_rows:
            conn.register("fresh", fresh)
            registered.append("fresh")
            stored = (
                "incoming i SEMI JOIN fresh f "
                "ON i.workspace_id = f.workspace_id AND i.message_id = f.message_id"
            )
            tail.append(f"INSERT INTO events SELECT i.* FROM {stored}")
            tail.append(_ENQUEUE.format(source=stored))
            tail.append(_ENQUEUE_IDS.format(source=stored))
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
        if position is not None:
            tail.append(
                "INSERT OR REPLACE INTO store_meta VALUES "
                f"('{JOURNAL_KEY}', {_literal(position.text())})"
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
    if position is not None or not fresh.num_rows:
        return set()
    return set(zip(fresh["workspace_id"].to_pylist(), fresh["message_id"].to_pylist(), strict=True))


# The identifiers a commit touched, with their earliest event time: the next refresh of the
# stored sessions re-derives those people from there (haina/query/stored.py).
_ENQUEUE = (
    "INSERT INTO derive_queue SELECT workspace_id, anonymous_id, user_id, min(timestamp) "
    "FROM {source} GROUP BY workspace_id, anonymous_id, user_id"
)

# ... and the identifiers it carried together, with the earliest message of each combination,
# for the next refresh of the identity graph (haina/identity/store.py).
_ENQUEUE_IDS = (
    "INSERT INTO identity_queue SELECT workspace_id, anonymous_id, user_id, identities, "
    "min(timestamp), arg_min(message_id, (timestamp, message_id)) FROM {source} "
    "GROUP BY workspace_id, anonymous_id, user_id, identities"
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

    @property
    def direct(self) -> bool:
        """Committed straight to DuckDB, answered after that commit: pre-built Arrow tables
        (demo and file loads, which wait anyway and would double their writes in the journal)
        and quarantine status changes."""
        return bool(self.batch.tables or self.batch.quarantine_status)


@dataclass(slots=True)
class _Load:
    """One unit of the loader's work, in acknowledgement order: a journal record, or a direct
    job."""

    seq: int
    events: list[bytes] = field(default_factory=list)  # encoded columns (journal.decode_columns)
    rows: int = 0
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    end: Position | None = None  # a journal record's end
    job: _Job | None = None  # a direct job
    start: Position | None = None  # a journal record's start
    # Bytes of `events` held in memory; 0 when the backlog let go of them (`events` and
    # `quarantine` are then read back from the journal when their turn comes).
    held: int = 0

    def contents(self, directory: Path) -> tuple[list[bytes], list[dict[str, Any]]]:
        if self.held or self.start is None:
            return self.events, self.quarantine
        record = journal.read_record(directory, self.start)
        return record.events, record.quarantine


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
    """The event store's one writer: the journal thread acknowledges, the loader loads.

    `submit` queues a batch. The journal thread takes everything queued, decides duplicates
    (`RecentKeys`), appends one record to the journal, fsyncs, and resolves the waiting futures:
    that is the acknowledgement. The loader thread appends journal records to DuckDB in large
    transactions that also record the journal position, so each record is loaded once. Readers
    (`reader`) first wait until everything acknowledged before they asked is loaded, so a
    report never misses an acknowledged event. On open, records not yet loaded (a crash) are
    loaded before anything else happens.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_rows: int = 50_000,
        dedup_days: int = 7,
        memory_limit: str | None = None,
        report_memory_limit: str | None = None,
        checkpoint_threshold: str = CHECKPOINT_THRESHOLD,
        max_backlog_rows: int = MAX_BACKLOG_ROWS,
        load_delay: float = LOAD_DELAY_SECONDS,
    ) -> None:
        self.path = path
        self.max_rows = max_rows
        self.dedup_days = dedup_days
        self.max_backlog_rows = max_backlog_rows
        self.load_delay = load_delay
        self._readers_waiting = 0
        self.journal_dir = path.with_name(path.name + ".journal")
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._loads: queue.Queue[_Load | None] = queue.Queue()
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
        self._loaded = self._recover()
        self._journal = JournalWriter(self.journal_dir, self._loaded)
        self._recent: RecentKeys | None = None  # built on the first acknowledgement
        self._recent_lock = threading.Lock()
        # Sequence numbers: acknowledged (or handed to the loader) and loaded.
        self._state = threading.Condition()
        self._acked_seq = self._loaded_seq = 0
        self._backlog = 0  # rows acknowledged, not yet loaded
        self._held_bytes = 0  # of those, bytes held in memory
        self._failure: Exception | None = None  # the loader's last error, until it recovers
        self._held: _Load | None = None  # taken from the queue by the loader, not yet loaded
        self._thread = threading.Thread(target=self._run, name="haina-journal", daemon=True)
        self._loader = threading.Thread(target=self._load_run, name="haina-loader", daemon=True)
        self._thread.start()
        self._loader.start()

    # -- reading -----------------------------------------------------------------------------

    def reader(self, timeout: float = 30.0) -> duckdb.DuckDBPyConnection:
        """A connection for reads in this process (MVCC: sees committed data), once every
        acknowledged event is loaded (blocks; async code uses `reader_async`)."""
        self.wait_loaded(timeout)
        return self._cursor()

    async def reader_async(self, timeout: float = 30.0) -> duckdb.DuckDBPyConnection:
        """`reader()` for async code: waits without blocking the event loop."""
        if self._loaded_seq < self._acked_seq:
            await asyncio.to_thread(self.wait_loaded, timeout)
        return self._cursor()

    def wait_loaded(self, timeout: float = 30.0) -> bool:
        """Block until everything acknowledged so far is in DuckDB (False: timed out, e.g. the
        loader is failing; the reader then sees what is loaded)."""
        deadline = time.monotonic() + timeout
        with self._state:
            target = self._acked_seq
            self._readers_waiting += 1
            try:
                while self._loaded_seq < target:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        log.warning("reading before %d acknowledged batches are loaded", target)
                        return False
                    self._state.wait(left)
            finally:
                self._readers_waiting -= 1
        return True

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._read_lock:
            return self._read_root.cursor()

    def idle_seconds(self) -> float:
        """Seconds since the last commit finished (background work waits for a lull)."""
        return time.monotonic() - self.last_commit

    def data_version(self, workspace_id: str) -> int:
        return self._versions.get(workspace_id, 0)

    def touch(self, workspace_id: str) -> None:
        """The workspace's data changed outside a commit (e.g. a split): cached reports go."""
        self._versions[workspace_id] = self._versions.get(workspace_id, 0) + 1

    def _bump_versions(self, batches: list[WriteBatch]) -> None:
        seen: set[str] = set()
        for b in batches:
            seen.update(v for v in set(b.events["workspace_id"]) if v)
            for t in b.tables:
                seen.update(str(v) for v in pc.unique(t.column("workspace_id")).to_pylist() if v)
        for ws in seen:
            self._versions[ws] = self._versions.get(ws, 0) + 1

    # -- writing -----------------------------------------------------------------------------

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
        """Drain what is queued, load it, then checkpoint and close the file."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        self._loader.join()
        self._journal.close()
        self._read_root.close()
        if self._failure is None:
            journal.drop_loaded(self.journal_dir, self._loaded, None)
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
        """The journal thread."""
        while True:
            first = self._queue.get()
            if first is None:
                break
            jobs, stop = self._take(first)
            run: list[_Job] = []
            for job in jobs:
                if job.direct:
                    self._acknowledge(run)
                    run = []
                    self._hand_over(_Load(0, job=job))
                else:
                    run.append(job)
            self._acknowledge(run)
            if stop:
                break
        self._loads.put(None)

    def _hand_over(self, load: _Load) -> None:
        with self._state:
            self._acked_seq += 1
            load.seq = self._acked_seq
            self._backlog += load.rows
            if load.start is not None:
                if self._held_bytes + load.held > MAX_HELD_BYTES:
                    # A long backlog waits on disk, not in memory: the loader reads it back.
                    load.events, load.quarantine, load.held = [], [], 0
                self._held_bytes += load.held
        self._loads.put(load)

    def _acknowledge(self, jobs: list[_Job]) -> None:
        """Journal a run of jobs as one record and answer them."""
        if not jobs:
            return
        with self._state:
            while self._backlog > self.max_backlog_rows and self._failure is None:
                self._state.wait(1.0)
            failure = self._failure
        if failure is not None:
            err = StoreUnavailable(f"the event store could not commit: {failure}")
            for j in jobs:
                j.future.set_exception(err)
            return
        try:
            merged = _merge([j.batch for j in jobs])
            ev = merged.events
            parts = [hashes_of(list(zip(ev["workspace_id"], ev["message_id"], strict=True)))]
            parts += [np.frombuffer(e.hashes, dtype=np.uint64) for e in merged.encoded]
            hashes = np.concatenate(parts)
            fresh = self._recent_keys().fresh(hashes)
            n_py = len(ev["message_id"])
            blobs: list[bytes] = []
            if fresh[:n_py].any():
                keep = np.flatnonzero(fresh[:n_py]).tolist()
                if len(keep) < n_py:
                    ev = {c: [v[i] for i in keep] for c, v in ev.items()}
                blobs.append(journal.encode_columns(ev))
            at = n_py
            for e in merged.encoded:
                blob = e.kept(fresh[at : at + len(e.message_ids)])
                at += len(e.message_ids)
                if blob is not None:
                    blobs.append(blob)
            day = time.time_ns() // 1000 // DAY_US
            with self._state:
                seq = self._acked_seq + 1
            data = journal.encode_record(seq, blobs, merged.quarantine)
            end = self._journal.append(data)
        except Exception as exc:  # noqa: BLE001 - every failure means "not stored"
            log.error("journal write failed, answering 503: %s", exc)
            err = StoreUnavailable(f"the event store could not commit: {exc}")
            for j in jobs:
                j.future.set_exception(err)
            return
        with self._recent_lock:
            self._recent_keys().add(hashes[fresh], day)
        start = Position(end.segment, end.offset - len(data))
        held = sum(len(b) for b in blobs) + 1
        rows = int(fresh.sum())
        load = _Load(0, blobs, rows, merged.quarantine, end=end, start=start, held=held)
        self._hand_over(load)
        self.last_commit = time.monotonic()
        # Each job's share of the mask: its Python rows come first (in job order), then its
        # encoded parts (in job order), as _merge put them.
        py_at, enc_at = 0, n_py
        for j in jobs:
            n = len(j.batch.events["message_id"])
            masks = [fresh[py_at : py_at + n]]
            ids = list(j.batch.events["message_id"])
            py_at += n
            for e in j.batch.encoded:
                masks.append(fresh[enc_at : enc_at + len(e.message_ids)])
                ids += e.message_ids
                enc_at += len(e.message_ids)
            mask = np.concatenate(masks)
            dups = frozenset(m for m, f in zip(ids, mask, strict=True) if not f)
            stored = int(mask.sum())
            j.future.set_result(
                WriteResult(stored, len(ids) - stored, len(j.batch.quarantine), dups)
            )

    def _recent_keys(self) -> RecentKeys:
        """The keys of the dedup window, read from DuckDB the first time they are needed."""
        if self._recent is None:
            recent = RecentKeys(self.dedup_days)
            cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=self.dedup_days + 1)
            got = (
                self._cursor()
                .execute(
                    f"SELECT {HASH_SQL} AS h, (epoch_us(received_at) // {DAY_US})::BIGINT AS d "
                    "FROM dedup WHERE received_at >= ?",
                    [cutoff],
                )
                .fetchnumpy()
            )
            recent.load(np.asarray(got["h"], dtype=np.uint64), np.asarray(got["d"]))
            self._recent = recent
        return self._recent

    # -- loading -----------------------------------------------------------------------------

    def _recover(self) -> Position:
        """Load journal records a previous process acknowledged but did not load."""
        assert self._conn is not None
        row = self._conn.execute(
            "SELECT value FROM store_meta WHERE key = ?", [JOURNAL_KEY]
        ).fetchall()
        loaded = Position.parse(row[0][0] if row else None)
        pending: list[journal.Record] = []
        rows = 0
        for record in journal.read_from(self.journal_dir, loaded):
            pending.append(record)
            rows += sum(len(b) for b in record.events) // 512  # roughly
            if rows >= LOAD_MAX_ROWS:
                loaded = self._load_records(pending)
                pending, rows = [], 0
        if pending:
            loaded = self._load_records(pending)
        journal.drop_loaded(self.journal_dir, loaded, None)
        return loaded

    def _load_records(self, records: list[journal.Record]) -> Position:
        assert self._conn is not None
        batch = WriteBatch(
            tables=_tables_of([b for r in records for b in r.events]),
            quarantine=[q for r in records for q in r.quarantine],
        )
        end = records[-1].end
        commit(self._conn, batch, end)
        log.info("loaded %d journal records left by an earlier process", len(records))
        return end

    def _take_loads(self, first: _Load) -> tuple[list[_Load], bool]:
        """What to load in one transaction: records that arrive within `load_delay` of the
        first (fewer, larger DuckDB commits), sooner when a reader waits or `max_rows` is
        reached."""
        loads, rows, stop = [first], first.rows, False
        deadline = time.monotonic() + self.load_delay
        while rows < LOAD_MAX_ROWS and first.job is None:
            left = deadline - time.monotonic()
            try:
                if left <= 0 or self._readers_waiting or self._closed:
                    nxt = self._loads.get_nowait()
                else:
                    nxt = self._loads.get(timeout=min(left, 0.01))
            except queue.Empty:
                if left <= 0 or self._readers_waiting or self._closed:
                    break
                continue
            if nxt is None:
                stop = True
                break
            if nxt.job is not None:
                self._held = nxt  # a direct job commits on its own, next
                break
            loads.append(nxt)
            rows += nxt.rows
        return loads, stop

    def _load_run(self) -> None:
        """The loader thread."""
        while True:
            first, self._held = self._held, None
            try:
                first = first or self._loads.get(timeout=IDLE_CHECKPOINT_SECONDS)
            except queue.Empty:
                self._idle_checkpoint()
                continue
            if first is None:
                return
            loads, stop = self._take_loads(first)
            self._maybe_prune()
            self._commit_loads(loads)
            if stop:
                return

    def _ensure_conn(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            self._conn = open_duckdb(self.path, **self._open_options)
            with self._read_lock:
                self._read_root = self._conn.cursor()
            self.report_memory.rebind(self._conn.cursor())
        return self._conn

    def _commit_loads(self, loads: list[_Load]) -> None:
        job = loads[0].job
        if job is not None:
            self._commit_direct(loads[0], job)
            return
        blobs: list[bytes] = []
        quarantine: list[dict[str, Any]] = []
        for ld in loads:
            events, rows = ld.contents(self.journal_dir)
            blobs += events
            quarantine += rows
        batch = WriteBatch(tables=_tables_of(blobs), quarantine=quarantine)
        end = loads[-1].end
        while True:
            try:
                commit(self._ensure_conn(), batch, end)
                break
            except Exception as exc:  # noqa: BLE001 - retried; acknowledgements stop meanwhile
                log.error("loading the journal failed, collection answers 503: %s", exc)
                self._reset_connection()
                with self._state:
                    self._failure = exc
                    self._state.notify_all()
                if self._closed:
                    return  # the journal keeps the records: the next start loads them
                time.sleep(1.0)
        assert end is not None
        self._loaded = end
        self._finish([batch], loads)
        journal.drop_loaded(self.journal_dir, end, self._journal.segment)

    def _commit_direct(self, load: _Load, job: _Job) -> None:
        try:
            fresh = commit(self._ensure_conn(), job.batch)
        except Exception as exc:  # noqa: BLE001 - every failure means "not stored"
            log.error("commit failed, answering 503: %s", exc)
            self._reset_connection()
            self._finish([], [load])
            job.future.set_exception(StoreUnavailable(f"the event store could not commit: {exc}"))
            return
        if self._recent is not None and fresh:
            with self._recent_lock:
                self._recent.add(hashes_of(list(fresh)), time.time_ns() // 1000 // DAY_US)
        self._finish([job.batch], [load])
        job.future.set_result(results_for([job.batch], fresh)[0])

    def _finish(self, batches: list[WriteBatch], loads: list[_Load]) -> None:
        self._bump_versions(batches)
        self.last_commit = time.monotonic()
        with self._state:
            self._failure = None
            self._loaded_seq = max(self._loaded_seq, loads[-1].seq)
            self._backlog -= sum(ld.rows for ld in loads)
            self._held_bytes -= sum(ld.held for ld in loads)
            self._state.notify_all()

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
