"""Ingest benchmark: Haina's collection API against a bare ASGI app, on loopback.

    .venv/bin/python -m bench.ingest [--duration 10] [--connections 64] [--quick]

Starts Haina (`haina serve`, a real process with its own data directory and a workspace) and
then the bare app (bench/bare_app.py: read body, parse JSON, answer 200), and drives each in
turn with realistic analytics.js messages: /v1/batch with 100 events per request and /v1/track
with one, closed loop, for peak throughput; then, for Haina, open-loop runs paced at half of
each peak for latency. Prints events/s, requests/s, p50/p99 latency, peak server RSS and CPU,
the ratios Haina/bare and the targets met or missed. Afterwards the event file is opened and
the events stored under each run's messageId prefix are counted against those acknowledged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx

from bench.load import basic_auth, run_python, run_wrk, wrk_path
from haina.testing import create_workspace, free_port, start_server

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
TARGETS = {"batch_events_per_s": 50_000, "single_requests_per_s": 3_000, "p99_ms": 50.0,
           "rss_mb": 400.0}


# -- the server process: RSS and CPU from /proc -----------------------------------------------


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in task.read_text().split())
    return pids


def rss_mb(pid: int) -> float:
    """Resident memory of the process tree: the sum of each process's PSS (its private pages
    plus its share of pages shared with others), so that pages a forked worker shares with its
    parent count once, not once per process. For one process, PSS is its RSS less its share
    of shared libraries. Falls back to VmRSS where smaps_rollup is missing."""
    total = 0
    for p in process_tree(pid):
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
            key = "Pss:"
        except OSError:
            try:
                text = Path(f"/proc/{p}/status").read_text()
                key = "VmRSS:"
            except OSError:
                continue
        for line in text.splitlines():
            if line.startswith(key):
                total += int(line.split()[1])
                break
    return total / 1024


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(every thread of the process tree, the root's main thread) CPU seconds: the tree
    includes Haina's collection worker processes."""
    def ticks(stat: Path) -> int:
        fields = stat.read_text().rpartition(")")[2].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            total += ticks(Path(f"/proc/{p}/stat"))
    try:
        return total / TICK, ticks(Path(f"/proc/{pid}/task/{pid}/stat")) / TICK
    except OSError:
        return 0.0, 0.0


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine, from /proc/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / TICK, (v[7] if len(v) > 7 else 0) / TICK


def own_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class RssSampler:
    """Samples the server's RSS (with children) every 100 ms; `peak` since the last reset."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.overall = pid, 0.0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + 3600
        while not self._stop.wait(0.1) and time.monotonic() < deadline:
            mb = rss_mb(self.pid)
            self.peak, self.overall = max(self.peak, mb), max(self.overall, mb)

    def reset(self) -> None:
        self.peak = rss_mb(self.pid)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@dataclass
class Run:
    name: str
    result: dict[str, Any]
    rss_peak_mb: float
    server_cpu: float  # cores busy, all threads
    server_main_cpu: float  # cores busy, the event-loop thread
    client_cpu: float
    other_cpu: float  # cores used by everything else on the machine (other users' work)
    steal: float
    prefix: str = ""
    stored: int | None = None

    @property
    def cpu_us_per_event(self) -> float:
        """Server CPU per acknowledged event: robust to a machine shared with other work."""
        events = float(self.result["events_acked"])
        return self.server_cpu * float(self.result["elapsed_s"]) / events * 1e6 if events else 0.0

    @property
    def requests_per_s(self) -> float:
        return float(self.result["ok"]) / float(self.result["elapsed_s"])

    @property
    def events_per_s(self) -> float:
        return float(self.result["events_acked"]) / float(self.result["elapsed_s"])


def measured(name: str, pid: int, sampler: RssSampler, prefix: str,
             go: Callable[[], dict[str, Any]]) -> Run:
    sampler.reset()
    cpu0, main0 = cpu_seconds(pid)
    child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    (busy0, steal0), self0 = machine_cpu(), own_cpu()
    t0 = time.monotonic()
    result = go()
    wall = time.monotonic() - t0
    cpu1, main1 = cpu_seconds(pid)
    child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    (busy1, steal1), self1 = machine_cpu(), own_cpu()
    client = child1.ru_utime + child1.ru_stime - child0.ru_utime - child0.ru_stime
    other = busy1 - busy0 - (cpu1 - cpu0) - client - (self1 - self0)
    run = Run(name, result, sampler.peak, (cpu1 - cpu0) / wall, (main1 - main0) / wall,
              client / wall, max(0.0, other) / wall, (steal1 - steal0) / wall, prefix)
    print(f"  {name:<17} {run.events_per_s:>8,.0f} ev/s {run.requests_per_s:>7,.0f} req/s  "
          f"p50 {result['p50_ms']:6.1f} p99 {result['p99_ms']:6.1f} ms  "
          f"server {run.server_cpu:.2f} cores ({run.cpu_us_per_event:,.0f} us/event)  "
          f"client {run.client_cpu:.2f}  other {run.other_cpu:.2f}  "
          f"errors {result['errors']} {result['statuses']}", flush=True)
    return run


# -- driving one server ---------------------------------------------------------------------


@dataclass
class Target:
    base_url: str
    port: int
    pid: int
    auth: str
    runs: dict[str, Run] = field(default_factory=dict)
    rss_overall_mb: float = 0.0
    rss_idle_mb: float = 0.0


def closed(t: Target, args: argparse.Namespace, kind: str, prefix: str,
           duration: float) -> Callable[[], dict[str, Any]]:
    path = "/v1/batch" if kind == "batch" else "/v1/track"
    if args.client == "wrk":
        return lambda: run_wrk(t.base_url, path, t.auth, kind, prefix, duration=duration,
                               connections=args.connections)
    return lambda: run_python("127.0.0.1", t.port, path, t.auth, kind, prefix,
                              duration=duration, connections=args.connections)


def paced(t: Target, args: argparse.Namespace, kind: str, prefix: str,
          rate: float) -> Callable[[], dict[str, Any]]:
    path = "/v1/batch" if kind == "batch" else "/v1/track"
    return lambda: run_python("127.0.0.1", t.port, path, t.auth, kind, prefix,
                              duration=args.duration, connections=args.connections, rate=rate)


def wait_until_quiet(limit_s: float, threshold: float = 0.25) -> None:
    """Wait (at most `limit_s`) for a second in which other work uses < `threshold` cores."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        (b0, s0), w0 = machine_cpu(), time.monotonic()
        time.sleep(1.0)
        (b1, s1), w1 = machine_cpu(), time.monotonic()
        load = (b1 - b0 + s1 - s0) / (w1 - w0)
        if load < threshold:
            return
        print(f"  (machine busy with other work: {load:.2f} cores; waiting)", flush=True)


def drive(t: Target, args: argparse.Namespace, run_id: str, with_half_peak: bool) -> None:
    t.rss_idle_mb = rss_mb(t.pid)
    sampler = RssSampler(t.pid)
    try:
        def go(name: str, make: Callable[[str], Callable[[], dict[str, Any]]]) -> Run:
            wait_until_quiet(args.wait_quiet)
            prefix = f"{run_id}-{name}-"
            t.runs[name] = measured(name, t.pid, sampler, prefix, make(prefix))
            return t.runs[name]

        warm = args.duration / 5
        go("warmup", lambda p: closed(t, args, "batch", p, warm))
        batch = go("batch", lambda p: closed(t, args, "batch", p, args.duration))
        single = go("single", lambda p: closed(t, args, "single", p, args.duration))
        if with_half_peak:
            go("batch_half_peak", lambda p: paced(t, args, "batch", p, batch.requests_per_s / 2))
            go("single_half_peak",
               lambda p: paced(t, args, "single", p, single.requests_per_s / 2))
    finally:
        sampler.stop()
        t.rss_overall_mb = sampler.overall


def bench_haina(args: argparse.Namespace, tmp: Path, run_id: str) -> Target:
    data = tmp / "haina"
    ws = create_workspace(data, "bench")
    server = start_server(data, env=dict(args.env))
    print(f"Haina: pid {server.proc.pid} on {server.base_url}, data in {data}", flush=True)
    target = Target(server.base_url, server.port, server.proc.pid, basic_auth(ws["write_key"]))
    try:
        drive(target, args, run_id, with_half_peak=True)
    finally:
        code = server.stop(timeout=60)  # SIGTERM: uvicorn drains, the writer checkpoints
        if code not in (0, -signal.SIGTERM):
            print(f"  haina serve exited with {code}:\n{server.log()[-2000:]}")
    verify(data / "events.duckdb", target, args.connections)
    return target


def verify(path: Path, target: Target, connections: int) -> None:
    """Count what each run stored, by its messageId prefix, against what was acknowledged."""
    with duckdb.connect(str(path), read_only=True) as conn:
        for run in target.runs.values():
            row = conn.execute("SELECT count(*) FROM events WHERE starts_with(message_id, ?)",
                               [run.prefix]).fetchone()
            run.stored = int(row[0]) if row else 0
        total = conn.execute("SELECT count(*) FROM events").fetchone()
        quarantined = conn.execute("SELECT count(*) FROM quarantine").fetchone()
    print(f"  stored events: {total[0] if total else 0:,}; "
          f"quarantined: {quarantined[0] if quarantined else 0}")
    for run in target.runs.values():
        acked, stored = run.result["events_acked"], run.stored or 0
        if run.result["client"] == "python":
            ok = stored == acked
            note = "exact: the client waits for every answer"
        else:  # wrk abandons requests in flight at its deadline; the server may commit them
            slack = connections * run.result["events_per_request"]
            ok = acked <= stored <= acked + slack
            note = f"wrk drops up to {slack:,} in flight at its deadline"
        print(f"  {run.name:<22} acknowledged {acked:>9,}  stored {stored:>9,}  "
              f"{'OK' if ok else 'MISMATCH'} ({note})")
        run.result["verified"] = ok


def bench_bare(args: argparse.Namespace, run_id: str) -> Target:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.bare_app", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.post(base + "/", content=b"{}", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the bare app did not start")
            time.sleep(0.05)
        print(f"bare app: pid {proc.pid} on {base}", flush=True)
        target = Target(base, port, proc.pid, basic_auth("unused"))
        drive(target, args, run_id, with_half_peak=False)
        return target
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# -- report ---------------------------------------------------------------------------------


def verdict(value: float, target: float, higher_is_better: bool) -> str:
    met = value >= target if higher_is_better else value < target
    if met:
        return "met"
    return f"MISSED by {abs(value - target) / target:.0%}"


def report(haina: Target, bare: Target) -> dict[str, Any]:
    h, b = haina.runs, bare.runs
    rows = [
        ("batch (100/request): events/s", h["batch"].events_per_s, b["batch"].events_per_s),
        ("batch: requests/s", h["batch"].requests_per_s, b["batch"].requests_per_s),
        ("batch: p50 ms", h["batch"].result["p50_ms"], b["batch"].result["p50_ms"]),
        ("batch: p99 ms", h["batch"].result["p99_ms"], b["batch"].result["p99_ms"]),
        ("batch: server CPU (cores)", h["batch"].server_cpu, b["batch"].server_cpu),
        ("batch: event-loop thread CPU", h["batch"].server_main_cpu, b["batch"].server_main_cpu),
        ("batch: server CPU us/event", h["batch"].cpu_us_per_event,
         b["batch"].cpu_us_per_event),
        ("batch: client CPU (cores)", h["batch"].client_cpu, b["batch"].client_cpu),
        ("batch: other work on machine", h["batch"].other_cpu, b["batch"].other_cpu),
        ("single (/v1/track): requests/s", h["single"].requests_per_s,
         b["single"].requests_per_s),
        ("single: p50 ms", h["single"].result["p50_ms"], b["single"].result["p50_ms"]),
        ("single: p99 ms", h["single"].result["p99_ms"], b["single"].result["p99_ms"]),
        ("single: server CPU (cores)", h["single"].server_cpu, b["single"].server_cpu),
        ("single: event-loop thread CPU", h["single"].server_main_cpu,
         b["single"].server_main_cpu),
        ("single: server CPU us/event", h["single"].cpu_us_per_event,
         b["single"].cpu_us_per_event),
        ("single: client CPU (cores)", h["single"].client_cpu, b["single"].client_cpu),
        ("single: other work on machine", h["single"].other_cpu, b["single"].other_cpu),
        ("server memory MB after start (PSS, all processes)", haina.rss_idle_mb, bare.rss_idle_mb),
        ("peak server memory MB (PSS, all processes)", haina.rss_overall_mb, bare.rss_overall_mb),
    ]
    print(f"\n{'':34}{'Haina':>12}{'bare app':>12}{'Haina/bare':>12}")
    for label, hv, bv in rows:
        ratio = f"{hv / bv:.2f}" if bv and "other work" not in label else "-"
        print(f"{label:34}{hv:>12,.2f}{bv:>12,.2f}{ratio:>12}")
    hb, hs = h["batch_half_peak"], h["single_half_peak"]
    print("\nHaina at half of peak (open loop, paced; latency from the scheduled send time):")
    for run in (hb, hs):
        print(f"  {run.name:<18} target {run.result['target_rate']:,.0f} req/s -> "
              f"{run.requests_per_s:,.0f} req/s ({run.events_per_s:,.0f} ev/s)  "
              f"p50 {run.result['p50_ms']:.1f} ms  p99 {run.result['p99_ms']:.1f} ms  "
              f"max {run.result['max_ms']:.1f} ms")
    targets = {
        "batched >= 50,000 events/s": (h["batch"].events_per_s,
                                       verdict(h["batch"].events_per_s,
                                               TARGETS["batch_events_per_s"], True)),
        "single >= 3,000 requests/s": (h["single"].requests_per_s,
                                       verdict(h["single"].requests_per_s,
                                               TARGETS["single_requests_per_s"], True)),
        "p99 < 50 ms at half peak (batched)": (hb.result["p99_ms"], verdict(
            hb.result["p99_ms"], TARGETS["p99_ms"], False)),
        "p99 < 50 ms at half peak (single)": (hs.result["p99_ms"], verdict(
            hs.result["p99_ms"], TARGETS["p99_ms"], False)),
        "RSS < 400 MB": (haina.rss_overall_mb,
                         verdict(haina.rss_overall_mb, TARGETS["rss_mb"], False)),
    }
    busy = max(r.other_cpu + r.steal for t in (haina, bare) for r in t.runs.values())
    if busy > 0.2:
        print(f"\nWARNING: other work (or hypervisor steal) took up to {busy:.2f} cores during "
              "these runs; throughput is understated. CPU us/event is the steadier figure.")
    print("\nTargets (durable commits included):")
    for name, (value, result) in targets.items():
        print(f"  {name:<38} {value:>12,.1f}  {result}")
    return {"rows": [{"metric": r[0], "haina": r[1], "bare": r[2]} for r in rows],
            "targets": {k: {"value": v, "verdict": s} for k, (v, s) in targets.items()},
            "runs": {f"{who}.{n}": r.result | {"rss_peak_mb": r.rss_peak_mb,
                                               "server_cpu": r.server_cpu,
                                               "server_main_cpu": r.server_main_cpu,
                                               "cpu_us_per_event": r.cpu_us_per_event,
                                               "client_cpu": r.client_cpu,
                                               "other_cpu": r.other_cpu, "steal": r.steal,
                                               "stored": r.stored}
                     for who, t in (("haina", haina), ("bare", bare))
                     for n, r in t.runs.items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    p.add_argument("--connections", type=int, default=64, help="concurrent connections")
    p.add_argument("--quick", action="store_true", help="2-second runs, for a smoke test")
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                   help="closed-loop client (auto: wrk when installed)")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="before each run, wait up to this long for other work on the machine "
                        "to stop (a shared development box)")
    p.add_argument("--env", action="append", default=[], type=lambda kv: tuple(kv.split("=", 1)),
                   metavar="NAME=VALUE", help="environment for the Haina server, e.g. "
                   "HAINA_COMMIT_MAX_ROWS=10000 (repeatable)")
    p.add_argument("--nice", type=int, default=None,
                   help="run the benchmark, its servers and clients at this nice value "
                        "(negative needs root): on a shared box, other work then skews less")
    args = p.parse_args()
    if args.quick:
        args.duration = 2.0
    if args.client == "auto":
        args.client = "wrk" if wrk_path() else "python"
        if args.client == "python":
            print("NOTE: wrk is not installed (apt-get install wrk); the peak runs use the Python "
                  "client, which takes CPU from the server on 2 cores: peaks are lower bounds.")
    elif args.client == "wrk" and not wrk_path():
        sys.exit("error: --client wrk but wrk is not installed (apt-get install wrk)")
    if args.nice is not None:  # children inherit it: the servers and the clients
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    run_id = uuid.uuid4().hex[:8]
    print(f"ingest benchmark {run_id}: {args.duration:g} s runs, {args.connections} connections, "
          f"peak client {args.client}, paced client python; {os.cpu_count()} CPUs, "
          f"nice {os.getpriority(os.PRIO_PROCESS, 0)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="haina-bench-") as tmp:
        haina = bench_haina(args, Path(tmp), run_id)
        bare = bench_bare(args, run_id)
    figures = report(haina, bare)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    if not all(r.result.get("verified", True) for r in haina.runs.values()):
        sys.exit("error: stored events do not match acknowledged events")


if __name__ == "__main__":
    main()
