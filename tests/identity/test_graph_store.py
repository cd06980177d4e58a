"""The identity graph kept in the event store (haina/identity/store.py): incremental refreshes
over commits in any split and order give what a rebuild from all events gives."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haina.identity.rules import IdentityRules
from haina.identity.store import person_id, rebuild, refresh
from haina.pipeline.run import IngestContext, process
from haina.store.events.duckdb_store import WriteBatch, commit, open_duckdb
from haina.workspaces import WorkspaceSettings

WS = "ws_test"
T0 = 1_720_000_000_000_000


def ingest(conn, messages: list[dict]) -> None:
    ctx = IngestContext(WS, "src", "server", WorkspaceSettings(), T0)
    out = process(messages, ctx)
    assert not out.rejects, out.rejects
    commit(conn, WriteBatch(events=out.rows))


def graph(conn) -> tuple[set, set]:
    nodes = set(
        conn.execute(
            "SELECT id_type, id_value, person_id FROM identity_nodes WHERE workspace_id = ?", [WS]
        ).fetchall()
    )
    merges = set(
        conn.execute(
            "SELECT merge_id, person_id, merged_person_id, message_id FROM identity_merges "
            "WHERE workspace_id = ?",
            [WS],
        ).fetchall()
    )
    return nodes, merges


def msg(i: int, ts: int, **fields) -> dict:
    m = {"type": "track", "event": "x", "messageId": f"m{i:03d}"}
    m["timestamp"] = f"2024-01-01T00:00:{ts:02d}Z"
    m.update(fields)
    return m


def test_identify_then_login_elsewhere_merges_and_is_recorded(tmp_path: Path):
    conn = open_duckdb(tmp_path / "e.duckdb")
    rules = IdentityRules()
    ingest(conn, [msg(1, 1, anonymousId="dev1"), msg(2, 2, anonymousId="dev2")])
    refresh(conn, WS, rules)
    ingest(
        conn,
        [
            msg(3, 3, type="identify", anonymousId="dev1", userId="u1"),
            msg(4, 4, type="identify", anonymousId="dev2", traits={"email": "A@x.CN"}),
        ],
    )
    refresh(conn, WS, rules)
    nodes, merges = graph(conn)
    assert len({p for *_, p in nodes}) == 2
    ingest(conn, [msg(5, 5, type="identify", userId="u1", traits={"email": "a@x.cn"})])
    out = refresh(conn, WS, rules)
    assert out.how == "incremental" and out.moved == 2  # dev2 and the e-mail moved to u1's
    nodes, merges = graph(conn)
    assert {p for *_, p in nodes} == {person_id(WS, ("anonymous_id", "dev1"))}
    ((_, into, merged, mid),) = merges
    assert (into, merged, mid) == (
        person_id(WS, ("anonymous_id", "dev1")),
        person_id(WS, ("anonymous_id", "dev2")),
        "m005",
    )


_ids = st.fixed_dictionaries(
    {},
    optional={
        "anonymousId": st.sampled_from(["a1", "a2", "a3", "a4", "null"]),
        "userId": st.sampled_from(["u1", "u2", "u3"]),
        "traits": st.fixed_dictionaries(
            {},
            optional={
                "email": st.sampled_from(["e1@x.cn", "E2@x.cn", "e3@x.cn"]),
                "phone": st.sampled_from(["13800000001", "+86 138 0000 0002"]),
            },
        ),
    },
).filter(lambda d: "anonymousId" in d or "userId" in d)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(st.tuples(st.integers(0, 50), _ids), min_size=1, max_size=14),
    st.randoms(use_true_random=False),
)
def test_refreshes_in_any_order_and_split_equal_a_rebuild(tmp_path_factory, items, rnd):
    messages = [msg(i, ts, type="identify", **ids) for i, (ts, ids) in enumerate(items)]
    rules = IdentityRules.from_json({"limits": {"email": 1}})
    conn = open_duckdb(tmp_path_factory.mktemp("g") / "e.duckdb")
    refresh(conn, WS, rules)
    shuffled = list(messages)
    rnd.shuffle(shuffled)
    cut = sorted(rnd.sample(range(len(shuffled) + 1), min(3, len(shuffled) + 1)))
    for lo, hi in zip([0, *cut], [*cut, len(shuffled)], strict=True):
        if shuffled[lo:hi]:
            ingest(conn, shuffled[lo:hi])
            refresh(conn, WS, rules)
    incremental = graph(conn)
    rebuild(conn, WS, rules)
    assert graph(conn) == incremental
    assert not any(v == "null" for _, v, _ in incremental[0])  # junk never becomes a node
