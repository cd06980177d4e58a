"""Report benchmark: every report kind on DuckDB and on chdb over ~10 M synthetic events.

    .venv/bin/python -m bench.reports [--events 10000000] [--data-dir bench-data] [--json F]

Builds once, cached in `--data-dir`, a shop workspace from the demo generator scaled up
(visitors x days), generated in parallel worker processes through the real ingest pipeline
(`process(batch, ctx)` then `events_table`) into Parquet files per day and shard, then loaded
(each in a child process) into a DuckDB file with the store's DDL, in time order as ingestion
leaves it, and into a chdb MergeTree table (haina/store/events/clickhouse.py) kept in a chdb
session directory. Then, in this process and with the server's default settings, it times each
report (median of `--runs` after one warm-up) on DuckDB and on chdb, checks that both engines
give identical results, times a hand-written ClickHouse `windowFunnel` query as the funnel's
reference, records peak RSS per phase, and profiles (DuckDB's JSON profile of each statement)
the reports that miss their target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from haina.config import Settings
from haina.query import ChdbEngine, DuckDBEngine, ReportContext, ReportSettings, stored
from haina.query.dialect import Dialect
from haina.query.scope import resolve_range
from haina.reports.registry import reports, run_report
from haina.store.events.clickhouse import ensure_derived
from haina.store.events.duckdb_store import open_duckdb
from haina.store.events.schema import EVENT_COLUMNS
from haina.workspaces.keys import DEFAULT_CONVERSION_EVENTS

ROOT = Path(__file__).resolve().parent.parent
KIND: Literal["shop"] = "shop"
SEED = 42
WORKSPACE = "ws_bench"
END = datetime(2026, 11, 20, 12, tzinfo=UTC)  # the data set's last hour
NOW = END.replace(tzinfo=None)  # the reports' clock (naive UTC)
TIMEZONE = "Asia/Shanghai"
REPORT_SETTINGS = ReportSettings(timezone=TIMEZONE, conversion_events=DEFAULT_CONVERSION_EVENTS)
FUNNEL_STEPS = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
FUNNEL_WINDOW_DAYS = 1
SHARDS_PER_WORKER = 8
FLUSH_ROWS = 10_000  # rows buffered per day in a generator worker before a Parquet row group
TARGETS_S = {"overview": 1.0, "sources": 1.0, "pages": 1.0, "funnel": 1.0, "retention": 1.0,
             "paths": 2.0}
FUNNEL_RATIO_TARGET = 2.0
MEMORY_TARGET_MB = 2048.0
TICK = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


def bodies(days: int) -> dict[str, dict[str, Any]]:
    """Realistic bodies over the whole range: the last `days` local days up to END."""
    last = END.astimezone(_zone()).date()
    rng = {"date_from": (last - timedelta(days=days - 1)).isoformat(),
           "date_to": last.isoformat(), "timezone": TIMEZONE}
    return {
        "overview": rng | {"interval": "day", "compare": True},
        "sources": rng | {"dimension": "channel", "limit": 50},
        "pages": rng | {"group_by": "path", "limit": 50},
        "paths": rng | {"path_type": "page", "start_point": "/", "steps": 5},
        "funnel": rng | {"steps": [{"event": s} for s in FUNNEL_STEPS], "order": "ordered",
                         "window": {"value": FUNNEL_WINDOW_DAYS, "unit": "day"}},
        "retention": rng | {"start_event": {"event": "$pageview"},
                            "return_event": {"event": "$pageview"},
                            "retention_type": "recurring", "period": "week",
                            "intervals": max(1, (days + 6) // 7)},
        "events": rng | {"events": [{"event": "Product Viewed"}, {"event": "Product Added"},
                                    {"event": "Order Completed"}],
                         "breakdown": {"property": "category", "source": "event"},
                         "interval": "day"},
        "pagespeed": rng | {"page": {"regex": "^/product/"}},
    }


def _zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(TIMEZONE)


# -- memory, CPU and the machine ----------------------------------------------------------------


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


_PEAK_BEFORE_RESET = [0.0]  # the highest VmHWM cleared since the current phase began


def reset_peak() -> bool:
    """Reset this process's VmHWM (Linux >= 4.0), so the next reading is the peak since now."""
    _PEAK_BEFORE_RESET[0] = max(_PEAK_BEFORE_RESET[0], peak_mb())
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_mb() -> float:
    return _status_mb("VmHWM")


def rss_mb() -> float:
    return _status_mb("VmRSS")


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (user, nice, system, irq, softirq, steal)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / TICK


def own_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def code_state() -> dict[str, str]:
    """Which code ran: the commit, and a digest of haina/ as it was when the reports were
    imported (the tree may hold uncommitted work)."""
    import hashlib
    import subprocess

    digest = hashlib.sha256()
    for path in sorted((ROOT / "haina").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                          capture_output=True, check=False).stdout.strip()
    return {"commit": head or "?", "haina_sha256": digest.hexdigest()[:12]}


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    peak_mb: float = 0.0  # VmHWM since the phase began (the process's whole life if unsupported)
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    other_cores: float = 0.0  # CPU used by other processes on the machine, in cores
    loadavg: str = ""


PHASES: list[Phase] = []


@contextlib.contextmanager
def phase(name: str) -> Iterator[Phase]:
    reset_peak()
    _PEAK_BEFORE_RESET[0] = 0.0  # reports reset the peak inside a phase: carry their peaks
    p = Phase(name, rss_before_mb=rss_mb(), loadavg=loadavg())
    busy0, own0, t0 = machine_busy(), own_cpu(), time.perf_counter()
    try:
        yield p
    finally:
        p.seconds = time.perf_counter() - t0
        other = machine_busy() - busy0 - (own_cpu() - own0)
        p.other_cores = max(0.0, other) / p.seconds if p.seconds else 0.0
        p.peak_mb, p.rss_after_mb = max(_PEAK_BEFORE_RESET[0], peak_mb()), rss_mb()
        PHASES.append(p)
        print(f"  [{name}: {p.seconds:.1f} s, peak RSS {p.peak_mb:,.0f} MB, RSS "
              f"{p.rss_before_mb:,.0f} -> {p.rss_after_mb:,.0f} MB, other work "
              f"{p.other_cores:.2f} cores]", flush=True)


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    mem = next(line.split(":", 1)[1].strip() for line in
               Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    from importlib.metadata import version  # not `import chdb`: its library would count in RSS

    return {"cpus": os.cpu_count(), "cpu": cpu, "memory": mem, "kernel": platform.release(),
            "python": platform.python_version(), "duckdb": duckdb.__version__,
            "chdb": version("chdb"), "pyarrow": pa.__version__}


# -- the data set -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    users: int
    days: int
    root: Path

    @property
    def parquet(self) -> Path:
        return self.root / "parquet"

    @property
    def duckdb_path(self) -> Path:
        return self.root / "events.duckdb"

    @property
    def chdb_path(self) -> Path:
        return self.root / "chdb"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if self.manifest_path.exists():
            data: dict[str, Any] = json.loads(self.manifest_path.read_text())
            return data
        return {}

    def record(self, stage: str, facts: dict[str, Any]) -> None:
        data = self.manifest()
        data.update({"users": self.users, "days": self.days, "seed": SEED, "kind": KIND,
                     "end": END.isoformat(), "workspace_id": WORKSPACE, stage: facts})
        self.manifest_path.write_text(json.dumps(data, indent=2))


def events_per_visitor(days: int) -> float:
    """Stored events per visitor: messages of the first 20,000 visitors, times the share of
    messages the pipeline stores (from the first 30,000 messages)."""
    from haina.demo.generator import generate
    from haina.pipeline.run import process

    sample = 20_000
    messages, stored, checked = 0, 0, 0
    ctx = _ingest_context()
    for batch in generate(sample, days, seed=SEED, end=END, kind=KIND, batch_size=5000):
        messages += len(batch)
        if checked < 30_000:
            checked += len(batch)
            stored += len(process(batch, ctx).rows["message_id"])
    return messages / sample * stored / checked


def _ingest_context() -> Any:
    from haina.pipeline.run import IngestContext
    from haina.workspaces import WorkspaceSettings

    return IngestContext(workspace_id=WORKSPACE, source_id="src_bench", source_kind="import",
                         settings=WorkspaceSettings(),
                         received_at_us=int(END.timestamp() * 1_000_000))


def generate_shard(users: int, days: int, shard: tuple[int, int], out: str) -> dict[str, Any]:
    """One worker: generate visitors k mod n, run the pipeline, write Parquet per UTC day."""
    from haina.demo.generator import generate
    from haina.pipeline.run import process
    from haina.store.events.duckdb_store import events_table

    t0 = time.perf_counter()
    ctx = _ingest_context()
    name = f"shard-{shard[0]:03d}-of-{shard[1]:03d}.parquet"
    writers: dict[date, pq.ParquetWriter] = {}
    buffers: dict[date, list[pa.Table]] = {}
    counts = {"messages": 0, "rejected": 0, "events": 0}

    def flush(day: date) -> None:
        table = pa.concat_tables(buffers.pop(day))
        if day not in writers:
            folder = Path(out) / f"day={day.isoformat()}"
            folder.mkdir(parents=True, exist_ok=True)
            writers[day] = pq.ParquetWriter(folder / name, table.schema, compression="zstd")
        writers[day].write_table(table)

    for batch in generate(users, days, seed=SEED, end=END, kind=KIND, batch_size=5000,
                          shard=shard):
        result = process(batch, ctx)
        table = events_table(result.rows)
        counts["messages"] += len(batch)
        counts["rejected"] += len(result.rejects)
        counts["events"] += table.num_rows
        day_of = pc.cast(table.column("timestamp"), pa.date32())
        for day in pc.unique(day_of).to_pylist():
            part = table.filter(pc.equal(day_of, pa.scalar(day, pa.date32())))
            buffers.setdefault(day, []).append(part)
            if sum(t.num_rows for t in buffers[day]) >= FLUSH_ROWS:
                flush(day)
    for day in list(buffers):
        flush(day)
    for writer in writers.values():
        writer.close()
    return counts | {"seconds": time.perf_counter() - t0, "peak_mb": peak_mb()}


def build_parquet(ds: DataSet, workers: int) -> dict[str, Any]:
    shutil.rmtree(ds.parquet, ignore_errors=True)
    ds.parquet.mkdir(parents=True)
    n = workers * SHARDS_PER_WORKER
    totals = {"messages": 0, "rejected": 0, "events": 0}
    worker_peak = 0.0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(generate_shard, ds.users, ds.days, (k, n), str(ds.parquet))
                   for k in range(n)]
        for done, fut in enumerate(as_completed(futures), 1):
            r = fut.result()
            for key in totals:
                totals[key] += int(r[key])
            worker_peak = max(worker_peak, float(r["peak_mb"]))
            wall = time.perf_counter() - t0
            print(f"    shard {done}/{n}: {totals['events']:,} events so far, "
                  f"{totals['events'] / wall:,.0f} events/s", flush=True)
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in ds.parquet.rglob("*.parquet"))
    return totals | {"seconds": seconds, "events_per_s": totals["events"] / seconds,
                     "workers": workers, "shards": n, "worker_peak_mb": worker_peak,
                     "parquet_mb": size / 2**20, "loadavg_after": loadavg()}


def load_duckdb(parquet: str, path: str, memory_limit: str, threshold: str) -> dict[str, Any]:
    """Child process: the Parquet days, in time order, into a fresh DuckDB store file."""
    reset_peak()
    t0 = time.perf_counter()
    target = Path(path)
    for stale in (target, target.with_name(target.name + ".wal")):
        stale.unlink(missing_ok=True)
    conn = open_duckdb(target, memory_limit=memory_limit, checkpoint_threshold=threshold)
    conn.execute("SET enable_progress_bar = false")  # output only; queries run the same
    names = ", ".join(f'"{c}"' for c, _ in EVENT_COLUMNS)
    for day in sorted(Path(parquet).glob("day=*")):
        files = _sql_text(str(day / "*.parquet"))
        # Ingestion appends roughly in time order: so does this load (one day at a time).
        conn.execute(f"INSERT INTO events ({names}) SELECT {names} FROM read_parquet({files}) "
                     "ORDER BY timestamp, message_id")
    conn.execute("CHECKPOINT")
    row = conn.execute("SELECT count(*) FROM events").fetchone()
    conn.close()
    return {"seconds": time.perf_counter() - t0, "events": int(row[0]) if row else 0,
            "peak_mb": peak_mb(), "file_mb": target.stat().st_size / 2**20,
            "memory_limit": memory_limit}


def load_chdb(parquet: str, path: str) -> dict[str, Any]:
    """Child process: the Parquet days into a chdb MergeTree table kept in a session path."""
    from haina.store.events.clickhouse import insert_arrow

    reset_peak()
    t0 = time.perf_counter()
    shutil.rmtree(path, ignore_errors=True)
    s = chdb_open(path)
    for day in sorted(Path(parquet).glob("day=*")):
        insert_arrow(s, pa.concat_tables(pq.read_table(f) for f in sorted(day.glob("*.parquet"))))
    inserted = time.perf_counter() - t0
    s.query("OPTIMIZE TABLE events FINAL")
    count = int(str(s.query("SELECT count() FROM events", "CSV")).strip())
    s.close()
    size = disk_bytes(Path(path))
    return {"seconds": time.perf_counter() - t0, "insert_seconds": inserted, "events": count,
            "peak_mb": peak_mb(), "dir_mb": size / 2**20}


def disk_bytes(folder: Path) -> int:
    """Bytes on disk under `folder`, each inode once (MergeTree parts share files by hard
    links, so adding up file sizes overstates a chdb directory several times)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for p in folder.rglob("*"):
        st = p.lstat()
        if p.is_file() and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def chdb_open(path: str) -> Any:
    """A chdb session whose database lives in `path` (kept when the session closes)."""
    from chdb import session as chdb_session

    factory: Any = chdb_session.Session  # chdb has no type hints
    return factory(path)


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def in_child(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` in a fresh (spawned) process: its memory is not this process's."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def ensure_data(args: argparse.Namespace, settings: Settings) -> DataSet:
    t0 = time.perf_counter()
    rate = in_child(events_per_visitor, args.days)  # its garbage would stay in this process
    users = max(1, round(args.events / rate))
    ds = DataSet(users, args.days, args.data_dir / f"{KIND}-{users}u-{args.days}d-seed{SEED}")
    print(f"data set: {users:,} visitors x {args.days} days (~{rate:.2f} events each, estimated "
          f"in {time.perf_counter() - t0:.1f} s) for ~{args.events:,} events, in {ds.root}",
          flush=True)
    if args.rebuild:
        shutil.rmtree(ds.root, ignore_errors=True)
    ds.root.mkdir(parents=True, exist_ok=True)
    m = ds.manifest()
    if "generate" not in m:
        print(f"  generating in {args.workers} worker processes (pipeline: process -> "
              "events_table -> Parquet per day)", flush=True)
        ds.manifest_path.unlink(missing_ok=True)
        ds.record("generate", build_parquet(ds, args.workers))
    g = ds.manifest()["generate"]
    print(f"  generated: {g['events']:,} events from {g['messages']:,} messages ({g['rejected']} "
          f"rejected) in {g['seconds']:.0f} s ({g['events_per_s']:,.0f} events/s, "
          f"{g['workers']} workers, peak {g['worker_peak_mb']:,.0f} MB each); Parquet "
          f"{g['parquet_mb']:,.0f} MB", flush=True)
    if "duckdb" not in ds.manifest():
        print("  loading DuckDB (child process)...", flush=True)
        ds.record("duckdb", in_child(load_duckdb, str(ds.parquet), str(ds.duckdb_path),
                                     settings.duckdb_memory_limit,
                                     settings.duckdb_checkpoint_threshold))
    d = ds.manifest()["duckdb"]
    print(f"  DuckDB: {d['events']:,} events in {ds.duckdb_path.name} ({d['file_mb']:,.0f} MB), "
          f"loaded in {d['seconds']:.0f} s (peak {d['peak_mb']:,.0f} MB, memory_limit "
          f"{d['memory_limit']})", flush=True)
    if "chdb" not in ds.manifest():
        print("  loading chdb (child process)...", flush=True)
        ds.record("chdb", in_child(load_chdb, str(ds.parquet), str(ds.chdb_path)))
    c = ds.manifest()["chdb"]
    print(f"  chdb: {c['events']:,} events in {ds.chdb_path.name}/ ({c['dir_mb']:,.0f} MB, "
          f"MergeTree, kept between runs), loaded in {c['seconds']:.0f} s (insert_arrow "
          f"{c['insert_seconds']:.0f} s + OPTIMIZE FINAL; peak {c['peak_mb']:,.0f} MB)",
          flush=True)
    if not d["events"] == c["events"] == g["events"]:
        sys.exit(f"error: events generated {g['events']}, in DuckDB {d['events']}, in chdb "
                 f"{c['events']}: rebuild with --rebuild")
    return ds


# -- timing reports -----------------------------------------------------------------------------


@dataclass
class Statement:
    sql: str
    params: dict[str, Any]
    seconds: float


class Recording:
    """An engine that records each statement it runs, with its parameters and wall time."""

    def __init__(self, inner: DuckDBEngine | ChdbEngine) -> None:
        self.inner = inner
        self.dialect: Dialect = inner.dialect
        self.log: list[Statement] = []

    def rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        t0 = time.perf_counter()
        try:
            return self.inner.rows(sql, params)
        finally:
            self.log.append(Statement(sql, dict(params), time.perf_counter() - t0))

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self.inner.execute(sql, params)

    def arrow(self, sql: str, params: dict[str, Any]) -> pa.Table:
        t0 = time.perf_counter()
        try:
            return self.inner.arrow(sql, params)
        finally:
            self.log.append(Statement(sql, dict(params), time.perf_counter() - t0))


@dataclass
class Timing:
    engine: str
    report: str
    warmup_s: float = 0.0
    runs_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)  # this process's CPU (all threads) per run
    statements_s: list[float] = field(default_factory=list)  # median per statement
    peak_mb: float = 0.0
    other_cores: float = 0.0
    error: str | None = None
    result: Any = None
    log: list[Statement] = field(default_factory=list)

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.runs_s) if self.runs_s and not self.error else None


def without_sql(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_sql(v) for k, v in value.items() if k != "sql"}
    if isinstance(value, list):
        return [without_sql(v) for v in value]
    return value


def time_report(name: str, engine: Recording, kind: str, body: dict[str, Any],
                runs: int, budget: float, stored: bool) -> Timing:
    """A warm-up, then `runs` timed runs, or fewer (at least one) when the next would go past
    `budget` seconds of timed runs: a report that takes minutes does not take the hour.
    `stored`: the stored sessions are current (session reports read them, as in the server)."""
    ctx = ReportContext(engine, WORKSPACE, REPORT_SETTINGS, NOW, stored=stored)
    t = Timing(name, kind)
    reset_peak()
    busy0, own0, w0 = machine_busy(), own_cpu(), time.perf_counter()
    per_run: list[list[float]] = []
    try:
        engine.log.clear()
        t0 = time.perf_counter()
        t.result = without_sql(run_report(ctx, kind, body))
        t.warmup_s = time.perf_counter() - t0
        for _ in range(runs):
            if t.runs_s and sum(t.runs_s) + statistics.median(t.runs_s) > budget:
                break
            engine.log.clear()
            t0, c0 = time.perf_counter(), own_cpu()
            run_report(ctx, kind, body)
            t.runs_s.append(time.perf_counter() - t0)
            t.cpu_s.append(own_cpu() - c0)
            per_run.append([s.seconds for s in engine.log])
        t.log = list(engine.log)
    except Exception as exc:  # noqa: BLE001 - a failing report is a figure too
        t.error = f"{type(exc).__name__}: {exc}"[:300]
        t.log = list(engine.log)  # what ran, the failing statement last: for the profile
    wall = time.perf_counter() - w0
    t.other_cores = max(0.0, machine_busy() - busy0 - (own_cpu() - own0)) / wall
    t.peak_mb = peak_mb()
    if per_run:
        t.statements_s = [statistics.median(col) for col in zip(*per_run, strict=False)]
    if t.error:
        print(f"  {kind:<10} {name:<7} FAILED after {wall:.1f} s: {t.error}", flush=True)
    else:
        parts = " + ".join(f"{s:.2f}" for s in t.statements_s)
        print(f"  {kind:<10} {name:<7} median {t.median_s or 0:7.3f} s of {len(t.runs_s)}  "
              f"warm-up {t.warmup_s:6.2f} s  runs {' '.join(f'{r:.2f}' for r in t.runs_s)}  "
              f"(statements {parts})  CPU {statistics.median(t.cpu_s or [0.0]):.2f} s  peak RSS "
              f"{t.peak_mb:,.0f} MB  other work {t.other_cores:.2f} cores", flush=True)
    return t


# -- the windowFunnel reference -----------------------------------------------------------------


def window_funnel_sql(stitched: bool) -> str:
    """ClickHouse's own funnel: per person the longest chain of the steps within the window.

    Persons are coalesce(user_id, anonymous_id), or with `stitched` resolved as our reports do
    (Scope's `ids`: an anonymous id takes the first user id it was seen with)."""
    conds = ", ".join(f"ifNull(e.event, '') = {{s{i}:String}}" for i in range(len(FUNNEL_STEPS)))
    names = ", ".join(f"{{s{i}:String}}" for i in range(len(FUNNEL_STEPS)))
    window_us = FUNNEL_WINDOW_DAYS * 86_400_000_000
    ids, person, join = "", "coalesce(e.user_id, e.anonymous_id)", ""
    if stitched:
        ids = ("WITH ids AS (SELECT anonymous_id AS aid, argMin(user_id, tuple(timestamp, "
               "user_id)) AS uid FROM events WHERE workspace_id = {ws:String} AND user_id IS NOT "
               "NULL AND anonymous_id IS NOT NULL GROUP BY anonymous_id) ")
        person, join = ("coalesce(e.user_id, ids.uid, e.anonymous_id)",
                        " LEFT JOIN ids ON e.anonymous_id = ids.aid")
    return (
        f"{ids}SELECT level, count() AS people FROM ("
        f"SELECT {person} AS person, "
        f"windowFunnel({window_us})(toUInt64(toUnixTimestamp64Micro(e.timestamp)), {conds}) "
        f"AS level FROM events e{join} "
        "WHERE e.workspace_id = {ws:String} AND e.timestamp >= {lo:DateTime64(6, 'UTC')} "
        "AND e.timestamp <= {hi:DateTime64(6, 'UTC')} AND e.type = 'track' "
        f"AND e.event IN ({names}) AND NOT coalesce(e.is_bot, false) "
        "GROUP BY person HAVING person IS NOT NULL) WHERE level > 0 GROUP BY level ORDER BY level"
    )


def time_window_funnel(engine: Recording, body: dict[str, Any], runs: int) -> dict[str, Any]:
    """The reference, on the same data, steps, window and range as our funnel; bots left out
    as our reports do. Median of `runs` after a warm-up, for each way of finding persons."""
    query = reports()["funnel"].query.model_validate(body)
    rng = resolve_range(query, ReportContext(engine, WORKSPACE, REPORT_SETTINGS, NOW))
    params: dict[str, Any] = {"ws": WORKSPACE, "lo": rng.utc_from, "hi": rng.utc_to}
    params |= {f"s{i}": s for i, s in enumerate(FUNNEL_STEPS)}
    out: dict[str, Any] = {}
    for variant, stitched in (("coalesce", False), ("stitched", True)):
        sql = window_funnel_sql(stitched)
        times: list[float] = []
        try:
            rows = engine.rows(sql, params)  # the warm-up
            for _ in range(runs):
                t0 = time.perf_counter()
                engine.rows(sql, params)
                times.append(time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - report it, keep the other figures
            print(f"  windowFunnel reference, persons {variant}: FAILED {exc}"[:300], flush=True)
            continue
        levels = {int(level): int(n) for level, n in rows}
        counts = [sum(n for level, n in levels.items() if level >= k)
                  for k in range(1, len(FUNNEL_STEPS) + 1)]
        median = statistics.median(times)
        print(f"  windowFunnel reference, persons {variant:<8} median {median:.3f} s  runs "
              f"{' '.join(f'{r:.3f}' for r in times)}  people per step {counts}", flush=True)
        out[variant] = {"median_s": median, "runs_s": times, "people_per_step": counts,
                        "sql": sql}
    return out


# -- profiling (DuckDB) -------------------------------------------------------------------------


def _walk(node: dict[str, Any], depth: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    yield depth, node
    for child in node.get("children", []):
        yield from _walk(child, depth + 1)


def _detail(info: dict[str, Any]) -> str:
    keep = ("CTE Name", "Table", "Groups", "Aggregates", "Conditions", "Join Type", "Filters",
            "Projections", "Order By", "Function")
    parts = []
    for key in keep:
        if key in info:
            value = info[key]
            text = "; ".join(value) if isinstance(value, list) else str(value)
            parts.append(f"{key}: {text}")
    return " | ".join(parts).replace("\n", " ")


def profile(cursor: duckdb.DuckDBPyConnection, kind: str, log: list[Statement],
            out: Path, timeout: float) -> list[dict[str, Any]]:
    """Run each statement once more with DuckDB's JSON profile; print the costly operators."""
    summaries: list[dict[str, Any]] = []
    for i, st in enumerate(log, 1):
        used = {k: v for k, v in st.params.items() if re.search(rf"\${k}\b", st.sql)}
        path = out / f"profile-{kind}-{i}.json"
        cursor.execute("PRAGMA enable_profiling = 'json'")
        cursor.execute(f"PRAGMA profiling_output = {_sql_text(str(path))}")
        timer = threading.Timer(timeout, cursor.interrupt)
        t0 = time.perf_counter()
        timer.start()
        try:
            cursor.execute(st.sql, used).fetchall()
        except duckdb.Error as exc:
            print(f"\n  profile {kind} statement {i}/{len(log)}: stopped after "
                  f"{time.perf_counter() - t0:.0f} s ({type(exc).__name__}): no profile")
            summaries.append({"statement": i, "error": str(exc)[:200]})
            continue
        finally:
            timer.cancel()
            wall = time.perf_counter() - t0
            cursor.execute("PRAGMA disable_profiling")
        tree = json.loads(path.read_text())
        ops = [(d, n) for root in tree.get("operator", []) for d, n in _walk(root)]
        total = sum(float(n.get("timing", 0.0)) for _, n in ops) or 1.0
        by_type: dict[str, float] = {}
        for _, n in ops:
            by_type[n.get("name", "?")] = by_type.get(n.get("name", "?"), 0.0) + float(
                n.get("timing", 0.0))
        top = sorted(ops, key=lambda dn: -float(dn[1].get("timing", 0.0)))[:10]
        system, query = tree.get("system", {}), tree.get("query", {})
        print(f"\n  profile {kind} statement {i}/{len(log)}: {wall:.2f} s wall, DuckDB "
              f"cpu_time {float(query.get('cpu_time', 0)):.2f} s, operators "
              f"{total:.2f} s (thread time), peak buffer "
              f"{int(system.get('peak_buffer_memory', 0)) / 2**20:,.0f} MB, spilled "
              f"{int(system.get('total_bytes_spilled', 0)) / 2**20:,.0f} MB, rows scanned "
              f"{int(query.get('total_rows_scanned', 0)):,}")
        print("    by operator type: " + ", ".join(
            f"{name} {sec / total:.0%}" for name, sec in
            sorted(by_type.items(), key=lambda kv: -kv[1])[:6]))
        top_rows = []
        for depth, n in top:
            sec = float(n.get("timing", 0.0))
            rows = int(n.get("intermediate_rows", n.get("operator_cardinality", 0)) or 0)
            detail = _detail(n.get("extra_info", {}))
            top_rows.append({"operator": n.get("name"), "depth": depth, "seconds": sec,
                             "rows": rows, "detail": detail})
            print(f"    {n.get('name', '?'):<22} {sec:7.2f} s {sec / total:4.0%} "
                  f"{rows:>12,} rows  depth {depth:<3} {detail[:110]}")
        summaries.append({"statement": i, "wall_s": wall, "operators_s": total,
                          "peak_buffer_mb": int(system.get("peak_buffer_memory", 0)) / 2**20,
                          "spilled_mb": int(system.get("total_bytes_spilled", 0)) / 2**20,
                          "by_type": by_type, "top": top_rows, "profile": str(path)})
    return summaries


# -- the run ------------------------------------------------------------------------------------


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "no figure"
    if value <= target:
        return "met"
    return f"missed by {value / target - 1:.0%} ({value / target:.1f}x)"


def stored_sessions(name: str, engine: Recording, args: argparse.Namespace) -> dict[str, Any]:
    """Bring the stored sessions up to date as the server does before a session report: the
    first time (or with --rebuild-sessions) that derives them from all events."""
    with phase(f"{name} stored sessions"):
        if args.no_stored:
            return {"mode": "not used"}
        t0 = time.perf_counter()
        done = (stored.rebuild if args.rebuild_sessions else stored.refresh)(
            engine, WORKSPACE, REPORT_SETTINGS)
        took = time.perf_counter() - t0
        print(f"  stored sessions: {done.mode}, {done.people:,} people, {took:.1f} s",
              flush=True)
        return {"mode": done.mode, "people": done.people, "seconds": round(took, 2)}


def incremental_refresh(cursor: duckdb.DuckDBPyConnection, engine: Recording,
                        events: int) -> dict[str, Any]:
    """What keeping stored sessions current costs: `events` copies of the workspace's latest
    events (new message ids, one minute later) are committed as the writer commits them (queue
    included), and one refresh is timed. The copies are then deleted and the sessions
    re-derived, so the data set is as before."""
    with phase("duckdb incremental refresh"):
        src = "'bench-refresh'"
        copy = (f"SELECT * REPLACE (message_id || '-r' AS message_id, timestamp + INTERVAL 1 "
                f"MINUTE AS timestamp, {src} AS source_id) FROM events WHERE workspace_id = ? "
                "AND timestamp >= (SELECT max(timestamp) - INTERVAL 1 DAY FROM events "
                "WHERE workspace_id = ?) ORDER BY timestamp DESC LIMIT ?")
        queue = ("INSERT INTO derive_queue SELECT workspace_id, anonymous_id, user_id, "
                 f"min(timestamp) FROM events WHERE source_id = {src} "
                 "GROUP BY workspace_id, anonymous_id, user_id")
        cursor.execute("BEGIN TRANSACTION")
        cursor.execute(f"INSERT INTO events {copy}", [WORKSPACE, WORKSPACE, events])
        cursor.execute(queue)
        cursor.execute("COMMIT")
        t0 = time.perf_counter()
        done = stored.refresh(engine, WORKSPACE, REPORT_SETTINGS)
        took = time.perf_counter() - t0
        print(f"  refresh after a commit of {events:,} events: {done.mode}, {done.people:,} "
              f"people re-derived, {took:.2f} s", flush=True)
        cursor.execute("BEGIN TRANSACTION")
        cursor.execute(queue)
        cursor.execute(f"DELETE FROM events WHERE source_id = {src}")
        cursor.execute("COMMIT")
        stored.refresh(engine, WORKSPACE, REPORT_SETTINGS)
        return {"events": events, "mode": done.mode, "people": done.people,
                "seconds": round(took, 3)}


def run_duckdb(ds: DataSet, args: argparse.Namespace, settings: Settings,
               kinds: list[str], body: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"timings": {}}
    with phase("duckdb open"):
        conn = open_duckdb(ds.duckdb_path, memory_limit=settings.duckdb_memory_limit,
                           checkpoint_threshold=settings.duckdb_checkpoint_threshold)
        cursor = conn.cursor()  # as the server's writer.reader() gives one
        cursor.execute("SET enable_progress_bar = false")  # output only; queries run the same
        # As the server runs reports and refreshes (GroupCommitWriter.report_memory).
        cursor.execute(f"SET memory_limit = '{settings.duckdb_report_memory_limit}'")
        row = cursor.execute("SELECT current_setting('memory_limit'), current_setting('threads'),"
                             " count(*) FROM events").fetchone()
        assert row is not None
        out["memory_limit"], out["threads"] = str(row[0]), int(row[1])
        print(f"DuckDB {duckdb.__version__}: memory_limit {row[0]} for reports "
              f"(HAINA_DUCKDB_REPORT_MEMORY_LIMIT={settings.duckdb_report_memory_limit}; "
              f"collection: {settings.duckdb_memory_limit}), threads {row[1]}, report timeout "
              f"{settings.report_timeout_seconds:g} s; {row[2]:,} events", flush=True)
    engine = Recording(DuckDBEngine(cursor, timeout=settings.report_timeout_seconds))
    out["stored"] = stored_sessions("duckdb", engine, args)
    if args.refresh_events and not args.no_stored:
        out["refresh"] = incremental_refresh(cursor, engine, args.refresh_events)
    with phase("duckdb reports"):
        for kind in kinds:
            out["timings"][kind] = time_report("duckdb", engine, kind, body[kind], args.runs,
                                               args.budget, not args.no_stored)
    if args.profile != "none":
        wanted = [k for k in kinds if args.profile == "all" or (
            k in TARGETS_S and (out["timings"][k].median_s or math.inf) > TARGETS_S[k])]
        out["profiles"] = {}
        with phase("duckdb profiles"):
            for kind in wanted:
                t = out["timings"][kind]
                if t.log:
                    out["profiles"][kind] = profile(cursor, kind, t.log, ds.root,
                                                    settings.report_timeout_seconds)
    cursor.close()
    conn.close()
    return out


def chdb_session(path: Path, settings: Settings, args: argparse.Namespace) -> Any:
    s = chdb_open(str(path))
    # As DuckDB's guard in the server: the report timeout, and a memory cap (a shared box).
    s.query(f"SET max_execution_time = {settings.report_timeout_seconds:g}")
    s.query(f"SET max_memory_usage = {int(args.chdb_max_memory_gb * 2**30)}")
    return s


def run_chdb(ds: DataSet, args: argparse.Namespace, settings: Settings, kinds: list[str],
             body: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"timings": {}, "reopened_after": []}
    with phase("chdb open"):
        s = chdb_session(ds.chdb_path, settings, args)
        facts = str(s.query("SELECT version(), getSetting('max_threads'), (SELECT count() FROM "
                            "events), (SELECT count() FROM system.parts WHERE table = 'events' "
                            "AND active)", "TSV")).strip().split("\t")
        out["version"], out["max_threads"], out["parts"] = facts[0], facts[1], int(facts[3])
        print(f"chdb (ClickHouse {facts[0]}): max_threads {facts[1]}, max_execution_time "
              f"{settings.report_timeout_seconds:g} s, max_memory_usage "
              f"{args.chdb_max_memory_gb:g} GiB; {int(facts[2]):,} events in {facts[3]} active "
              "parts", flush=True)
    inner = ChdbEngine(s)
    engine = Recording(inner)
    ensure_derived(s)  # a data directory loaded before this layout of stored sessions
    out["stored"] = stored_sessions("chdb", engine, args)
    with phase("chdb reports"):
        for kind in kinds:
            t = time_report("chdb", engine, kind, body[kind], args.runs, args.budget,
                            not args.no_stored)
            out["timings"][kind] = t
            if t.error:
                # chdb 4.4: after a failed query (e.g. MEMORY_LIMIT_EXCEEDED) the session's next
                # large Arrow result can come back corrupt ("Invalid flatbuffers message"); a
                # new session is clean.
                s.close()
                s = inner.session = chdb_session(ds.chdb_path, settings, args)
                out["reopened_after"].append(kind)
                print("    (chdb session reopened after the failure)", flush=True)
    if "funnel" in kinds:
        with phase("chdb windowFunnel"):
            out["window_funnel"] = time_window_funnel(engine, body["funnel"], args.runs)
    s.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=10_000_000, help="about how many events")
    p.add_argument("--days", type=int, default=30, help="days of data (and the reports' range)")
    p.add_argument("--data-dir", type=Path, default=ROOT / "bench-data",
                   help="where the generated data is cached (git-ignored)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="generator worker processes")
    p.add_argument("--runs", type=int, default=5, help="timed runs per report (after a warm-up)")
    p.add_argument("--budget", type=float, default=300.0, metavar="SECONDS",
                   help="at most this long in timed runs per report and engine (at least one "
                        "run): fewer than --runs for reports that take minutes")
    p.add_argument("--chdb-max-memory-gb", type=float, default=4.0,
                   help="chdb's max_memory_usage per query (protects a shared machine)")
    p.add_argument("--reports", default=",".join(bodies(30)),
                   help="comma-separated report kinds")
    p.add_argument("--engines", default="duckdb,chdb", help="duckdb, chdb or both")
    p.add_argument("--profile", choices=("missed", "all", "none"), default="missed",
                   help="DuckDB JSON profile of each statement of the reports that miss their "
                        "target (or all of them)")
    p.add_argument("--rebuild", action="store_true", help="regenerate and reload the data")
    p.add_argument("--rebuild-sessions", action="store_true",
                   help="derive the stored sessions again (and time it)")
    p.add_argument("--refresh-events", type=int, default=10_000, metavar="N",
                   help="time a refresh of the stored sessions after a commit of N events "
                        "(0: skip)")
    p.add_argument("--no-stored", action="store_true",
                   help="derive sessions per query, as before stored sessions (for comparison)")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    args = p.parse_args()
    kinds = [k.strip() for k in args.reports.split(",") if k.strip()]
    engines = {e.strip() for e in args.engines.split(",")}
    body = bodies(args.days)
    if unknown := [k for k in kinds if k not in body]:
        sys.exit(f"error: unknown report kinds {unknown}; known: {', '.join(body)}")
    settings = Settings()
    reports()  # import every report module now: the code measured is the code at this moment
    facts = machine() | code_state()
    load_before = loadavg()
    print(f"reports benchmark: {facts['cpus']} CPUs ({facts['cpu']}), {facts['memory']} RAM, "
          f"Linux {facts['kernel']}, Python {facts['python']}, DuckDB {facts['duckdb']}, chdb "
          f"{facts['chdb']}, pyarrow {facts['pyarrow']}; code {facts['commit']} (haina/ sha256 "
          f"{facts['haina_sha256']}); load average {load_before}", flush=True)
    if not reset_peak():
        print("NOTE: /proc/self/clear_refs is not writable: peaks are since the process started")
    ds = ensure_data(args, settings)
    print(f"\nbodies (range {body['overview']['date_from']} .. {body['overview']['date_to']} "
          f"{TIMEZONE}; settings: conversion events {', '.join(DEFAULT_CONVERSION_EVENTS)}; "
          f"report cache bypassed):")
    for kind in kinds:
        print(f"  {kind}: {json.dumps(body[kind], ensure_ascii=False)}")
    print(f"\n{args.runs} timed runs per report after one warm-up", flush=True)
    duck = run_duckdb(ds, args, settings, kinds, body) if "duckdb" in engines else {}
    ch = run_chdb(ds, args, settings, kinds, body) if "chdb" in engines else {}
    load_after = loadavg()
    figures = summarise(ds, args, settings, facts, kinds, body, duck, ch,
                        (load_before, load_after))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str, ensure_ascii=False))
    if not figures["identical"]:
        sys.exit("error: DuckDB and chdb gave different results")


def summarise(ds: DataSet, args: argparse.Namespace, settings: Settings, facts: dict[str, Any],
              kinds: list[str], body: dict[str, dict[str, Any]], duck: dict[str, Any],
              ch: dict[str, Any], load: tuple[str, str]) -> dict[str, Any]:
    dt: dict[str, Timing] = duck.get("timings", {})
    ct: dict[str, Timing] = ch.get("timings", {})
    wf = ch.get("window_funnel")
    same: dict[str, bool | None] = {}
    for kind in kinds:
        a, b = dt.get(kind), ct.get(kind)
        if a is None or b is None or a.error or b.error:
            same[kind] = None
        else:
            same[kind] = a.result == b.result
    events = ds.manifest()["generate"]["events"]
    print(f"\nResults at {events:,} events ({ds.users:,} visitors, {ds.days} days), median of "
          f"{args.runs} after a warm-up; load average before {load[0]}, after {load[1]}:\n")
    head = f"{'report':<11}{'DuckDB s':>10}{'chdb s':>10}  {'target':<22}{'verdict':<28}same"
    print(head)
    print("-" * len(head))
    rows = []
    for kind in kinds:
        d = dt[kind].median_s if kind in dt else None
        c = ct[kind].median_s if kind in ct else None
        target = f"<= {TARGETS_S[kind]:g} s (DuckDB)" if kind in TARGETS_S else "-"
        v = verdict(d, TARGETS_S[kind]) if kind in TARGETS_S else "-"
        if kind in dt and dt[kind].error and kind in TARGETS_S:
            v = f"missed ({failure(dt[kind], short=True)})"
        agree = {True: "identical", False: "DIFFERENT", None: "-"}[same[kind]]
        rows.append({"report": kind, "duckdb_s": d, "chdb_s": c, "target": target,
                     "verdict": v, "identical": same[kind],
                     "duckdb_error": dt[kind].error if kind in dt else None,
                     "chdb_error": ct[kind].error if kind in ct else None})
        dtext = failure(dt[kind], short=True) if kind in dt and dt[kind].error else _fmt(d)
        ctext = failure(ct[kind], short=True) if kind in ct and ct[kind].error else _fmt(c)
        print(f"{kind:<11}{dtext:>10}{ctext:>10}  {target:<22}{v:<28}{agree}")
    ratios: dict[str, dict[str, float | None]] = {}
    for variant, ref in (wf or {}).items():
        ref_s = float(ref["median_s"])
        ratios[variant] = {}
        for name, t in (("duckdb", dt.get("funnel")), ("chdb", ct.get("funnel"))):
            m = t.median_s if t is not None else None
            ratios[variant][name] = m / ref_s if m is not None and ref_s else None
        rd, rc = ratios[variant]["duckdb"], ratios[variant]["chdb"]
        v = verdict(rd, FUNNEL_RATIO_TARGET)
        label = f"funnel / windowFunnel ({variant} persons)"
        rows.append({"report": label, "duckdb_s": rd, "chdb_s": rc,
                     "target": f"<= {FUNNEL_RATIO_TARGET:g}x", "verdict": v,
                     "reference_s": ref_s})
        print(f"{'funnel/wF':<11}{_fmt(rd, 'x'):>10}{_fmt(rc, 'x'):>10}  "
              f"{f'<= {FUNNEL_RATIO_TARGET:g}x of {ref_s:.3f} s':<22}{v:<28}({variant} persons)")
    peaks = {p.name: p.peak_mb for p in PHASES}
    for name in ("duckdb reports", "chdb reports"):
        if name in peaks:
            v = verdict(peaks[name], MEMORY_TARGET_MB)
            rows.append({"report": f"peak RSS, {name}", "mb": peaks[name],
                         "target": f"<= {MEMORY_TARGET_MB:,.0f} MB", "verdict": v})
            print(f"{'peak RSS':<11}{peaks[name]:>9,.0f}M {'':>9}  "
                  f"{f'<= {MEMORY_TARGET_MB:,.0f} MB':<22}{v:<28}({name})")
    agreed = [k for k, v in same.items() if v is True]
    differ = [k for k, v in same.items() if v is False]
    unchecked = [k for k, v in same.items() if v is None]
    if agreed:
        print("\nDuckDB and chdb gave identical results (everything but the SQL text) for "
              + ("every report" if len(agreed) == len(same) else ", ".join(agreed)) + ".")
    if differ:
        print("DIFFERENT results between DuckDB and chdb: " + ", ".join(differ))
    if unchecked:
        print("Not compared (failed on an engine, or not run): " + ", ".join(unchecked))
    if wf and "funnel" in dt and dt["funnel"].result:
        ours = [s["count"] for s in dt["funnel"].result.get("steps", [])]
        refs = "; ".join(f"windowFunnel, {v} persons {r['people_per_step']}"
                         for v, r in wf.items())
        print(f"funnel people per step: ours {ours}; {refs}")
    print("\nphases: " + "; ".join(f"{p.name} {p.seconds:.0f} s peak {p.peak_mb:,.0f} MB "
                                   f"(other work {p.other_cores:.2f} cores)" for p in PHASES))

    def timing(t: Timing) -> dict[str, Any]:
        d = {k: v for k, v in asdict(t).items() if k not in ("result", "log")}
        return d | {"median_s": t.median_s,
                    "sql": [{"sql": s.sql, "params": s.params, "seconds": s.seconds}
                            for s in t.log]}

    return {
        "machine": facts, "loadavg": {"before": load[0], "after": load[1]},
        "settings": {"duckdb_memory_limit": settings.duckdb_memory_limit,
                     "duckdb_report_memory_limit": settings.duckdb_report_memory_limit,
                     "duckdb_threads": duck.get("threads"),
                     "report_timeout_seconds": settings.report_timeout_seconds,
                     "chdb_max_threads": ch.get("max_threads"), "timezone": TIMEZONE,
                     "conversion_events": list(DEFAULT_CONVERSION_EVENTS)},
        "data": ds.manifest() | {"path": str(ds.root)},
        "runs": args.runs, "bodies": {k: body[k] for k in kinds}, "table": rows,
        "identical": all(v is not False for v in same.values()),
        "duckdb": {k: timing(t) for k, t in dt.items()},
        "chdb": {k: timing(t) for k, t in ct.items()},
        "window_funnel": wf, "funnel_ratio": ratios,
        "profiles": duck.get("profiles", {}), "phases": [asdict(p) for p in PHASES],
    }


def failure(t: Timing, short: bool = False) -> str:
    """What stopped a report: the time or memory guard, or another error."""
    text = t.error or ""
    if "ran longer than" in text or "TIMEOUT_EXCEEDED" in text:
        return "timeout" if short else "stopped by the report timeout"
    if "more memory" in text or "MEMORY_LIMIT_EXCEEDED" in text:
        return "memory" if short else "out of memory (the engine's limit)"
    return "error" if short else text[:60]


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.3f}{unit}"


if __name__ == "__main__":
    main()
