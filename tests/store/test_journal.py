"""The ingest journal: records read back whole or not at all, loads exactly once after a
crash, and the in-memory duplicate check agrees with a plain set."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haina.store.events import duckdb_store, journal
from haina.store.events.duckdb_store import GroupCommitWriter, WriteBatch
from haina.store.events.journal import JournalWriter, Position
from haina.store.events.recent import HASH_SQL, HashSet, RecentKeys, hashes_of, key_hash
from tests.store.test_duckdb_store import batch


def _events(ids: list[str], ws: str = "w1") -> bytes:
    return journal.encode_columns(batch(ids, ws).events)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 4), min_size=1, max_size=6),
    cut=st.integers(0, 10_000),
)
def test_a_torn_tail_is_cut_and_every_whole_record_reads_back(
    tmp_path_factory: object, sizes: list[int], cut: int
) -> None:
    d = Path(tmp_path_factory.mktemp("j"))  # type: ignore[attr-defined]
    w = JournalWriter(d, Position())
    ends = []
    for seq, n in enumerate(sizes, 1):
        q = [{"id": f"q{seq}", "reason": "x" * n}] if n % 2 else []
        ends.append(
            w.append(journal.encode_record(seq, [_events([f"{seq}-{i}" for i in range(n)])], q))
        )
    w.close()
    path = journal.segment_path(d, w.segment)
    size = path.stat().st_size
    keep = size - (cut % (size + 1))  # a crash left the file at `keep` bytes
    os.truncate(path, keep)
    got = list(journal.read_from(d, Position()))
    whole = [e for e in ends if e.offset <= keep]
    assert [r.end for r in got] == whole
    assert [r.seq for r in got] == list(range(1, len(whole) + 1))
    for r, n in zip(got, sizes, strict=False):
        ids = [m for b in r.events for m in journal.decode_columns(b)["message_id"]]
        assert ids == [f"{r.seq}-{i}" for i in range(n)]
    # The torn part is gone: appending after it yields readable records again.
    assert path.stat().st_size == (whole[-1].offset if whole else 0)


def test_records_left_by_a_crash_load_once_on_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "events.duckdb"
    w = GroupCommitWriter(path)
    assert w.write(batch(["a", "b"])).stored == 2
    w.close()
    # A process acknowledged these and died before loading them: they are only in the journal.
    jw = JournalWriter(path.with_name(path.name + ".journal"), Position(10**6, 0))
    jw.append(journal.encode_record(1, [_events(["c", "d"])], [{"id": "q1", "workspace_id": "w1"}]))
    jw.append(journal.encode_record(2, [_events(["e"])], []))
    jw.close()
    for expect in (["a", "b", "c", "d", "e"], ["a", "b", "c", "d", "e", "f"]):
        w = GroupCommitWriter(path)  # the second open loads nothing twice
        conn = w.reader()
        assert [
            r[0] for r in conn.execute("SELECT message_id FROM events ORDER BY 1").fetchall()
        ] == expect
        assert conn.execute("SELECT id FROM quarantine").fetchall() == [("q1",)]
        # ... and they count as received: a retry is a duplicate.
        assert w.write(batch(["d", "f"])).duplicate_ids == (
            {"d"} if "f" not in expect else {"d", "f"}
        )
        w.close()
    assert journal.segments(path.with_name(path.name + ".journal")) == []


def test_an_acknowledged_event_is_readable_at_once(tmp_path: Path) -> None:
    # A slow loader: reads must still see what was acknowledged before them.
    w = GroupCommitWriter(tmp_path / "events.duckdb", load_delay=5.0)
    assert w.write(batch(["x"])).stored == 1
    assert w.reader().execute("SELECT count(*) FROM events").fetchall() == [(1,)]
    w.close()


def test_a_backlog_past_the_memory_cap_is_loaded_from_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duckdb_store, "MAX_HELD_BYTES", 0)  # every record let go of
    w = GroupCommitWriter(tmp_path / "events.duckdb", load_delay=0.5)
    quarantined = WriteBatch(
        events=batch(["q-ok"]).events,
        quarantine=[{"id": "q1", "workspace_id": "w1", "reason": "bad", "status": "new"}],
    )
    for k in range(5):
        assert w.write(batch([f"{k}-{i}" for i in range(20)])).stored == 20
    assert w.write(quarantined).stored == 1
    conn = w.reader()
    assert conn.execute("SELECT count(*) FROM events").fetchall() == [(101,)]
    assert conn.execute("SELECT id, reason FROM quarantine").fetchall() == [("q1", "bad")]
    w.close()


def test_duplicate_answers_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "events.duckdb"
    w = GroupCommitWriter(path)
    w.write(batch(["a"]))
    w.close()
    w = GroupCommitWriter(path)
    r = w.write(batch(["a", "b"], ws="w1"))
    assert (r.stored, r.duplicates) == (1, 1)
    w.close()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.integers(1, 300), max_size=40), max_size=12))
def test_the_hash_set_agrees_with_a_python_set(rounds: list[list[int]]) -> None:
    hs, ref = HashSet(4), set()
    for values in rounds:
        arr = np.unique(np.array(values, dtype=np.uint64))
        added = hs.add(arr)
        assert added.tolist() == [int(v) not in ref for v in arr]
        ref.update(int(v) for v in arr)
        probe = np.arange(1, 320, dtype=np.uint64)
        assert hs.contains(probe).tolist() == [int(v) in ref for v in probe]
    assert hs.count == len(ref)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abcdefgh"), max_size=10), max_size=8))
def test_recent_keys_mark_first_sightings_only(rounds: list[list[str]]) -> None:
    rk, seen = RecentKeys(7), set()
    for day, ids in enumerate(rounds):
        h = hashes_of([("w", i) for i in ids])
        fresh = rk.fresh(h)
        expect = []
        for i in ids:
            expect.append(i not in seen)
            seen.add(i)
        assert fresh.tolist() == expect
        rk.add(h[fresh], 20_000 + day)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=12), st.text(max_size=40))
def test_duckdb_computes_the_same_key_hash(workspace: str, message: str) -> None:
    workspace, message = workspace.replace("\x00", ""), message.replace("\x00", "")
    got = duckdb.execute(
        f"SELECT {HASH_SQL} FROM (SELECT ? AS workspace_id, ? AS message_id)",
        [workspace, message],
    ).fetchall()
    assert got == [(key_hash(workspace, message),)]
