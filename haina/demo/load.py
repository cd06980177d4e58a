"""Filling a workspace with the demo data set: generated and processed in parallel.

Each worker process generates one shard of the visitors (see `generate(shard=...)`), runs the
real ingest pipeline on it and sends Arrow tables back; this process only commits them through
the group-commit writer, keeping at most two commits in flight so memory stays flat.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from haina.demo.generator import Kind, generate
from haina.pipeline.geo import open_geo
from haina.pipeline.run import IngestContext, process
from haina.store.events.duckdb_store import (
    GroupCommitWriter,
    WriteBatch,
    WriteResult,
    events_table,
)
from haina.workspaces import WorkspaceSettings

BATCH = 5000


@dataclass(frozen=True, slots=True)
class DemoTarget:
    """Where the demo events go, in a form worker processes can receive."""

    workspace_id: str
    source_id: str
    source_kind: str
    settings: WorkspaceSettings
    received_at_us: int
    geoip_path: Path | None = None


@dataclass(frozen=True, slots=True)
class DemoRun:
    users: int
    days: int
    seed: int
    kind: Kind
    end: datetime | None


def _encode(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _work(target: DemoTarget, run: DemoRun, shard: tuple[int, int], out: Any) -> None:
    """One worker: generate a shard, run the pipeline, send (messages, rejected, table)."""
    try:
        ctx = IngestContext(
            workspace_id=target.workspace_id,
            source_id=target.source_id,
            source_kind=target.source_kind,
            settings=target.settings,
            received_at_us=target.received_at_us,
            geo=open_geo(target.geoip_path),
        )
        batches = generate(
            run.users,
            run.days,
            seed=run.seed,
            kind=run.kind,
            end=run.end,
            batch_size=BATCH,
            shard=shard,
        )
        for batch in batches:
            result = process(batch, ctx)
            out.put((len(batch), len(result.rejects), _encode(events_table(result.rows))))
        out.put(None)
    except BaseException as exc:  # noqa: BLE001 - report to the parent, which raises
        out.put(("error", f"{type(exc).__name__}: {exc}"))


@dataclass(slots=True)
class DemoReport:
    generated: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0


def fill(
    writer: GroupCommitWriter,
    target: DemoTarget,
    run: DemoRun,
    progress: Callable[[int], None] = lambda n: None,
    workers: int | None = None,
) -> DemoReport:
    """Generate the run into the store; `progress(n)` is called as messages are generated."""
    n = max(1, workers or os.cpu_count() or 1)
    mp = multiprocessing.get_context("spawn")  # the parent has threads (the writer): no fork
    results: Any = mp.Queue(maxsize=2 * n)
    procs = [
        mp.Process(target=_work, args=(target, run, (k, n), results), daemon=True) for k in range(n)
    ]
    for p in procs:
        p.start()
    report = DemoReport()
    pending: deque[Future[WriteResult]] = deque()

    def settle(limit: int) -> None:
        while len(pending) > limit:
            written = pending.popleft().result()
            report.stored += written.stored
            report.duplicates += written.duplicates

    try:
        finished = 0
        while finished < n:
            try:
                item = results.get(timeout=5)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    raise RuntimeError("a demo worker died without a word") from None
                continue
            if item is None:
                finished += 1
                continue
            if item[0] == "error":
                raise RuntimeError(f"a demo worker failed: {item[1]}")
            count, rejected, data = item
            table = pa.ipc.open_stream(data).read_all()
            pending.append(writer.submit(WriteBatch(tables=[table])))
            report.generated += count
            report.rejected += rejected
            progress(count)
            settle(2)
        settle(0)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    return report
