"""Collection worker processes: large batches decoded and run through the pipeline beside the
server's event loop.

In one process, every batch's JSON decoding and pipeline (about 60 µs an event) hold the GIL
that the event loop, the journal and the loader also need: a 100-event batch keeps the loop
busy for 6-8 ms, and requests queue behind it. `Collector.collect_raw` sends batches of at least
`collect_worker_min_bytes` here instead, as bytes; a worker decodes them, applies the limits,
runs `prepare()` (the same code as in the server) and returns the rows encoded for the journal
(`EncodedRows`, with their key hashes), so the journal thread only decides duplicates and
appends. The server keeps the write key lookup, the answer and the journal.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from haina.collect.service import Limits, Prepared, RequestFacts, prepare, warm_up
from haina.collect.wire import WireError, decode_json
from haina.pipeline.geo import GeoLookup, open_geo
from haina.pipeline.plan import TrackingPlan
from haina.store.events.duckdb_store import EncodedRows
from haina.workspaces import KeyInfo

_geo: GeoLookup | None = None


def start(geo_path: Path | None) -> None:
    """Each worker's initialiser."""
    global _geo
    _geo = open_geo(geo_path)
    warm_up()
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    """A worker leaves when the server does, however the server ended (a SIGKILL included):
    waiting for work on its queue, it would not notice."""
    multiprocessing.connection.wait([sentinel])
    os._exit(0)


def ready(pause: float) -> bool:
    """A task that proves a worker is up (the pause keeps one worker from taking them all)."""
    import time

    time.sleep(pause)
    return True


@dataclass(frozen=True, slots=True)
class BatchJob:
    info: KeyInfo
    plan: TrackingPlan | None
    facts: RequestFacts
    body: bytes  # inflated
    limits: Limits
    salt: bytes  # the day's cookieless salt


def run_batch(job: BatchJob) -> Prepared | WireError:
    """A batch request's rows and answer, or the `WireError` that refuses the whole request."""
    try:
        data = decode_json(job.body)
        prepared = prepare(
            job.info, job.plan, data, job.facts, len(job.body), job.limits, _geo, job.salt
        )
    except WireError as err:
        return err
    if prepared.events["message_id"]:
        prepared.encoded = [EncodedRows.of(job.info.workspace_id, prepared.events)]
    prepared.events = {}  # sent back encoded only
    return prepared
