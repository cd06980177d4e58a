"""The group-commit writer on a real DuckDB file: dedup window, concurrency, reopening."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb

from haina.pipeline.run import IngestContext, process
from haina.store.events.duckdb_store import GroupCommitWriter, WriteBatch
from haina.workspaces import WorkspaceSettings

NOW_US = time.time_ns() // 1000


def batch(ids: list[str], ws: str = "w1") -> WriteBatch:
    ctx = IngestContext(
        workspace_id=ws,
        source_id="s",
        source_kind="server",
        settings=WorkspaceSettings(),
        received_at_us=NOW_US,
    )
    msgs = [{"type": "track", "event": "E", "userId": "u", "messageId": m} for m in ids]
    return WriteBatch(events=process(msgs, ctx).rows)


def test_duplicates_are_skipped_within_and_across_commits_and_restarts(tmp_path: Path) -> None:
    path = tmp_path / "events.duckdb"
    w = GroupCommitWriter(path)
    r1 = w.write(batch(["a", "b", "a"]))
    assert (r1.stored, r1.duplicates) == (2, 1)
    w.close()
    w = GroupCommitWriter(path)
    r2 = w.write(batch(["b", "c"]))
    assert (r2.stored, r2.duplicates) == (1, 1) and r2.duplicate_ids == {"b"}
    assert w.write(batch(["b"], ws="w2")).stored == 1
    rows = w.reader().execute("SELECT workspace_id, message_id FROM events ORDER BY ALL").fetchall()
    assert rows == [("w1", "a"), ("w1", "b"), ("w1", "c"), ("w2", "b")]
    w.close()


def test_the_dedup_window_holds_seven_days_then_is_pruned(tmp_path: Path) -> None:
    path = tmp_path / "events.duckdb"
    w = GroupCommitWriter(path, dedup_days=7)
    w.write(batch(["old", "recent"]))
    conn = w.reader()
    conn.execute(
        "UPDATE dedup SET received_at = received_at - INTERVAL 9 DAY WHERE message_id = 'old'"
    )
    conn.execute(
        "UPDATE dedup SET received_at = received_at - INTERVAL 7 DAY WHERE message_id = 'recent'"
    )
    w._last_prune = float("-inf")  # the writer prunes at most hourly; prune on the next commit
    w.write(batch(["x"]))
    left = {r[0] for r in w.reader().execute("SELECT message_id FROM dedup").fetchall()}
    assert left == {"recent", "x"}
    assert w.write(batch(["recent"])).duplicates == 1  # still inside the window
    w.close()


def test_concurrent_requests_share_commits_and_lose_nothing(tmp_path: Path) -> None:
    w = GroupCommitWriter(tmp_path / "events.duckdb")
    results: list[int] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        for k in range(20):
            r = w.write(batch([f"{n}-{k}-{j}" for j in range(10)]))
            with lock:
                results.append(r.stored)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 8 * 20 * 10
    w.close()
    conn = duckdb.connect(str(tmp_path / "events.duckdb"), read_only=True)
    assert conn.execute("SELECT count(DISTINCT message_id) FROM events").fetchone() == (1600,)
    conn.close()


def test_a_key_shared_by_two_requests_in_one_commit_counts_once() -> None:
    from haina.store.events.duckdb_store import results_for

    a, b = batch(["k1", "k2"]), batch(["k2", "k3", "k3"])
    fresh = {("w1", "k1"), ("w1", "k2"), ("w1", "k3")}
    ra, rb = results_for([a, b], fresh)
    assert (ra.stored, ra.duplicates) == (2, 0)
    assert (rb.stored, rb.duplicates, rb.duplicate_ids) == (1, 2, {"k2", "k3"})


def test_status_updates_are_quoted_safely(tmp_path: Path) -> None:
    w = GroupCommitWriter(tmp_path / "events.duckdb")
    hostile = "x'; DROP TABLE events; --"
    w.write(WriteBatch(quarantine_status=[(hostile, "discarded")]))
    w.write(batch(["after"]))
    assert w.reader().execute("SELECT count(*) FROM events").fetchone() == (1,)
    w.close()


def test_reports_raise_the_memory_limit_while_any_of_them_runs(tmp_path: Path) -> None:
    w = GroupCommitWriter(tmp_path / "e.duckdb", memory_limit="100MB", report_memory_limit="1GB")

    def limit() -> str:
        row = w.reader().execute("SELECT current_setting('memory_limit')").fetchone()
        assert row is not None
        return str(row[0])

    low = limit()
    with w.report_memory():
        high = limit()
        with w.report_memory():  # a second report at the same time
            assert limit() == high
        assert limit() == high  # the first one still runs
    assert limit() == low
    assert low.startswith("95") and high.startswith("953")  # DuckDB shows MiB: 95.3, 953.6
    w.write(batch(["m"]))  # collection goes on under the low limit
    assert limit() == low
    w.close()
