"""Load for the ingest benchmark: realistic Segment bodies, and two cheap clients.

Bodies are built once as templates split at each `messageId`; a request only joins the parts
with fresh ids (a per-run prefix plus a counter), so the client spends almost nothing per event
and deduplication never discards one. Two clients drive them:

- `wrk` (C, epoll) with a generated Lua script, for closed-loop peak runs when it is installed;
- this module run as a process (`python -m bench.load ...`, asyncio on uvloop, raw HTTP/1.1
  keep-alive) for open-loop paced runs, and as the closed-loop fallback without wrk.

Both print one JSON object per run: requests, acknowledged events, latency percentiles.
The Python client stops sending at the deadline and waits for every answer (bounded), so its
acknowledged count is exact; wrk drops what is in flight when its time is up.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

MID = "@@MID@@"  # placeholder for a messageId inside a template
BATCH_TEMPLATES = 32  # distinct 100-event bodies (3,200 distinct events) per run
SINGLE_TEMPLATES = 256

_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Safari/537.36 Edg/123.0.2420.97",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 Instagram 325.0.0.35.91",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)
_REFERRERS = ("", "", "https://www.google.com/", "https://www.bing.com/",
              "https://www.facebook.com/", "https://t.co/x8Jd2", "https://news.ycombinator.com/",
              "https://shop.example.com/category/shoes", "https://duckduckgo.com/")
_CAMPAIGNS = (None, None, None,
              {"name": "spring_sale", "source": "google", "medium": "cpc",
               "term": "running shoes", "content": "ad_a"},
              {"name": "newsletter_0412", "source": "newsletter", "medium": "email"},
              {"name": "retargeting", "source": "facebook", "medium": "paid_social"})
_CATEGORIES = ("shoes", "jackets", "bags", "socks", "hats", "outdoor")
_EVENTS = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed",
           "Signed Up", "Video Played", "Search Performed", "Coupon Applied")


def _page(rng: random.Random) -> tuple[str, str, str]:
    """(url, path, title) of a page on a shop with a few thousand distinct URLs."""
    pick = rng.random()
    if pick < 0.45:
        pid = rng.randint(1, 3000)
        path, title = f"/products/{pid}", f"Trail Runner {pid} | Example Shop"
    elif pick < 0.7:
        cat = rng.choice(_CATEGORIES)
        path, title = f"/category/{cat}", f"{cat.title()} | Example Shop"
    elif pick < 0.8:
        q = rng.choice(("red shoes", "rain jacket", "wool socks", "gift card"))
        return (f"https://shop.example.com/search?q={q.replace(' ', '+')}", "/search",
                f"Search: {q}")
    else:
        path, title = rng.choice((("/", "Example Shop"), ("/cart", "Cart"),
                                  ("/checkout", "Checkout"), ("/blog/fit-guide", "Fit guide")))
    return f"https://shop.example.com{path}", path, title


def event(rng: random.Random, now: datetime) -> dict[str, Any]:
    """One message as analytics.js sends it, with `MID` where the messageId goes."""
    url, path, title = _page(rng)
    referrer = rng.choice(_REFERRERS)
    campaign = rng.choice(_CAMPAIGNS)
    if campaign:
        url += ("&" if "?" in url else "?") + f"utm_source={campaign['source']}" \
               f"&utm_medium={campaign['medium']}&utm_campaign={campaign['name']}"
    sent = now - timedelta(milliseconds=rng.randint(5, 400))
    original = sent - timedelta(milliseconds=rng.randint(1, 3000))
    page = {"path": path, "referrer": referrer, "search": url.partition("?")[2] and
            "?" + url.partition("?")[2], "title": title, "url": url}
    context: dict[str, Any] = {
        "library": {"name": "analytics.js", "version": "npm:next-1.70.0"},
        "page": page, "userAgent": rng.choice(_UAS), "locale": rng.choice(("en-US", "de-DE",
                                                                          "zh-CN", "fr-FR")),
        "timezone": rng.choice(("Europe/Berlin", "America/New_York", "Asia/Shanghai")),
        "screen": {"width": 1920, "height": 1080, "density": 2},
    }
    if campaign:
        context["campaign"] = campaign
    kind = rng.choices(("page", "track", "identify"), (0.45, 0.45, 0.10))[0]
    user = f"user_{rng.randint(1, 20000)}" if rng.random() < 0.3 else None
    msg: dict[str, Any] = {
        "type": kind, "messageId": MID, "anonymousId": str(uuid.UUID(int=rng.getrandbits(128))),
        "context": context, "integrations": {},
        "originalTimestamp": original.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sentAt": sent.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
    }
    if user:
        msg["userId"] = user
    if kind == "page":
        msg["name"] = title.split(" | ")[0]
        msg["properties"] = dict(page)
    elif kind == "track":
        msg.update(_track(rng))
    else:
        msg["userId"] = user or f"user_{rng.randint(1, 20000)}"
        msg["traits"] = {"email": f"{msg['userId']}@example.com", "plan": "pro",
                         "name": "Ada Lovelace", "company": {"name": "Acme", "size": 40}}
    return msg


def _track(rng: random.Random) -> dict[str, Any]:
    name = rng.choice(_EVENTS)
    props: dict[str, Any] = {"product_id": f"sku-{rng.randint(1, 3000)}",
                             "price": round(rng.uniform(5, 300), 2), "currency": "USD",
                             "category": rng.choice(_CATEGORIES)}
    if name == "Order Completed":
        props.update(order_id=f"o-{rng.getrandbits(40):x}", revenue=round(rng.uniform(20, 900), 2),
                     products=[{"product_id": f"sku-{rng.randint(1, 3000)}", "quantity": 1}
                               for _ in range(rng.randint(1, 3))])
    return {"event": name, "properties": props}


def templates(kind: str, seed: int = 7) -> list[list[bytes]]:
    """Bodies for `batch` (100 messages each) or `single` (/v1/track), split at each MID."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    out: list[list[bytes]] = []
    if kind == "batch":
        for _ in range(BATCH_TEMPLATES):
            body = {"batch": [event(rng, now) for _ in range(100)],
                    "sentAt": now.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
            out.append(json.dumps(body, separators=(",", ":")).encode().split(MID.encode()))
        return out
    while len(out) < SINGLE_TEMPLATES:
        msg = event(rng, now)
        if msg["type"] == "track":
            out.append(json.dumps(msg, separators=(",", ":")).encode().split(MID.encode()))
    return out


def basic_auth(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def percentiles(latencies_s: Any) -> dict[str, float]:
    values = sorted(latencies_s)
    if not values:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "mean_ms": 0.0}

    def at(q: float) -> float:
        return float(values[min(len(values) - 1, int(q * len(values)))] * 1000)

    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": values[-1] * 1000,
            "mean_ms": sum(values) / len(values) * 1000}


# -- the Python client ----------------------------------------------------------------------


class _Client:
    """Keep-alive HTTP/1.1 connections sending pre-built bodies with fresh messageIds."""

    def __init__(self, host: str, port: int, path: str, auth: str, kind: str, prefix: str,
                 deadline: float) -> None:
        self.host, self.port, self.deadline = host, port, deadline
        self.parts = templates(kind)
        self.per_request = len(self.parts[0]) - 1
        self.head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {auth}\r\n"
                     "Content-Type: application/json\r\nUser-Agent: haina-bench\r\n"
                     "Content-Length: %d\r\n\r\n").encode()
        self.prefix, self.counter = prefix.encode(), 0
        self.latencies = array("d")
        self.requests = self.ok = self.acked = self.accepted = self.reconnects = 0
        self.errors: list[str] = []
        self.statuses: dict[int, int] = {}

    def body(self) -> bytes:
        n = self.counter
        self.counter += 1
        parts = self.parts[n % len(self.parts)]
        pieces = [parts[0]]
        base = self.prefix + b"%d." % n
        for i in range(1, len(parts)):
            pieces.append(base + b"%d" % i)
            pieces.append(parts[i])
        payload = b"".join(pieces)
        return self.head % len(payload) + payload

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port)

    async def exchange(self, conn: list[Any], started: float) -> None:
        """One request on `conn` ([reader, writer]); reconnects once if the server had closed
        it (uvicorn drops keep-alive connections idle for 5 s). A resent body carries the
        same messageIds, so it can never be stored twice."""
        request = self.body()
        for attempt in (1, 2):
            reader, writer = conn
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                break
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                if attempt == 2 or (isinstance(exc, asyncio.IncompleteReadError)
                                    and exc.partial):
                    raise
                writer.close()
                conn[:] = await self.connect()
                self.reconnects += 1
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        payload = await reader.readexactly(length)
        self.latencies.append(time.monotonic() - started)
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 200:
            self.ok += 1
            self.acked += self.per_request
            if b'"accepted"' in payload:
                self.accepted += int(json.loads(payload).get("accepted", 0))

    async def closed_loop(self) -> None:
        conn: list[Any] = list(await self.connect())
        try:
            while time.monotonic() < self.deadline:
                await self.exchange(conn, time.monotonic())
        finally:
            conn[1].close()

    async def paced(self, interval: float, first: float) -> None:
        """Open loop: send at fixed times; latency counts from when it was due (no omission)."""
        conn: list[Any] = list(await self.connect())
        due = first
        try:
            # Behind schedule, requests go back to back; stop anyway 10 s after the deadline.
            while due < self.deadline and time.monotonic() < self.deadline + 10:
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self.exchange(conn, due)
                due += interval
        finally:
            conn[1].close()


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    start = time.monotonic() + 0.2
    client = _Client(args.host, args.port, args.path, args.auth, args.kind, args.prefix,
                     start + args.duration)
    if args.rate:
        # Each connection sends at least every 2 s: uvicorn closes those idle for 5 s.
        conns = min(args.connections, max(8, math.ceil(args.rate * 2)))
        interval = conns / args.rate
        tasks = [client.paced(interval, start + i * interval / conns) for i in range(conns)]
    else:
        tasks = [client.closed_loop() for _ in range(args.connections)]
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True),
                                     args.duration + 30)
    client.errors = [f"{type(r).__name__}: {r}"[:200] for r in results
                     if isinstance(r, BaseException)]
    elapsed = max(time.monotonic() - start, 1e-9)
    return {"client": "python", "requests": client.requests, "ok": client.ok,
            "events_acked": client.acked, "events_accepted": client.accepted,
            "statuses": client.statuses, "errors": len(client.errors),
            "error_samples": client.errors[:3], "reconnects": client.reconnects,
            "connections": len(tasks), "elapsed_s": elapsed,
            "events_per_request": client.per_request, "target_rate": args.rate,
            **percentiles(client.latencies)}


def run_python(url_host: str, port: int, path: str, auth: str, kind: str, prefix: str, *,
               duration: float, connections: int, rate: float = 0.0) -> dict[str, Any]:
    """Run this module's client in its own process (so it has its own GIL and core)."""
    cmd = [sys.executable, "-m", "bench.load", "--host", url_host, "--port", str(port),
           "--path", path, "--auth", auth, "--kind", kind, "--prefix", prefix,
           "--duration", str(duration), "--connections", str(connections), "--rate", str(rate)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 90,
                          cwd=Path(__file__).resolve().parent.parent)
    if proc.returncode != 0:
        raise RuntimeError(f"load client failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# -- wrk --------------------------------------------------------------------------------------


def wrk_path() -> str | None:
    return shutil.which("wrk")


_LUA = r"""
local bodies = {%(bodies)s}
local prefix = "%(prefix)s"
local counter = 0
tid = 0
local threads = {}
wrk.method = "POST"
wrk.path = "%(path)s"
wrk.headers["Authorization"] = "%(auth)s"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "haina-bench"
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function request()
  local parts = bodies[(counter %% #bodies) + 1]
  local base = prefix .. tid .. "-" .. counter .. "."
  local out, n = {parts[1]}, #parts
  for i = 2, n do
    out[#out + 1] = base .. (i - 1)
    out[#out + 1] = parts[i]
  end
  counter = counter + 1
  return wrk.format(nil, nil, nil, table.concat(out))
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"connect_errors":%%d,"read_errors":%%d,' ..
    '"write_errors":%%d,"status_errors":%%d,"timeouts":%%d,"p50_us":%%d,"p99_us":%%d,' ..
    '"max_us":%%d,"mean_us":%%f}\n', summary.requests, summary.duration, e.connect, e.read,
    e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max,
    latency.mean))
end
"""


def wrk_script(kind: str, path: str, auth: str, prefix: str) -> str:
    def lua(parts: list[bytes]) -> str:
        return "{" + ",".join(f"[==[{p.decode()}]==]" for p in parts) + "}"

    bodies = ",\n".join(lua(p) for p in templates(kind))
    return _LUA % {"bodies": bodies, "prefix": prefix, "path": path, "auth": auth}


def run_wrk(base_url: str, path: str, auth: str, kind: str, prefix: str, *, duration: float,
            connections: int) -> dict[str, Any]:
    """A closed-loop run with wrk (one thread: the server needs the other core)."""
    exe = wrk_path()
    if exe is None:
        raise RuntimeError("wrk is not installed")
    per_request = len(templates(kind)[0]) - 1
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(wrk_script(kind, path, auth, prefix))
    try:
        proc = subprocess.run(
            [exe, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
             "-s", f.name, base_url + path], capture_output=True, text=True,
            timeout=duration + 60)
    finally:
        Path(f.name).unlink(missing_ok=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    w = json.loads(line.removeprefix("WRKJSON "))
    ok = w["requests"] - w["status_errors"]
    return {"client": "wrk", "requests": w["requests"], "ok": ok,
            "events_acked": ok * per_request, "events_accepted": None,
            "statuses": {"non_2xx": w["status_errors"]},
            "errors": w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"],
            "elapsed_s": w["duration_us"] / 1e6, "events_per_request": per_request,
            "target_rate": 0.0, "p50_ms": w["p50_us"] / 1000, "p99_ms": w["p99_us"] / 1000,
            "max_ms": w["max_us"] / 1000, "mean_ms": w["mean_us"] / 1000}


def main() -> None:
    p = argparse.ArgumentParser(description="one load run; prints a JSON result line")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--auth", default="")
    p.add_argument("--kind", choices=("batch", "single"), required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--rate", type=float, default=0.0, help="requests/s; 0 = closed loop")
    args = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(_run(args))))


if __name__ == "__main__":
    main()
