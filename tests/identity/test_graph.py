"""Identity resolution rules (haina/identity/graph.py): scenarios and properties."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from haina.identity.graph import Observation, resolve
from haina.identity.rules import IdentityRules

RULES = IdentityRules()


def obs(ts: int, mid: str, *ids: tuple[str, str]) -> Observation:
    return Observation(ts, mid, tuple(ids))


A1, A2, A3 = ("anonymous_id", "a1"), ("anonymous_id", "a2"), ("anonymous_id", "a3")
U1, U2 = ("user_id", "u1"), ("user_id", "u2")
E1, E2 = ("email", "x@example.com"), ("email", "y@example.com")


def profiles(res) -> set[frozenset]:
    groups: dict = {}
    for ident, anchor in res.anchor_of.items():
        groups.setdefault(anchor, set()).add(ident)
    return {frozenset(g) for g in groups.values()}


def test_identify_links_the_device_and_keeps_the_older_profile_id():
    res = resolve([obs(1, "m1", A1), obs(2, "m2", A1, U1)], RULES)
    assert res.anchor_of[U1] == res.anchor_of[A1] == A1  # the visitor's profile survives
    assert res.merges == []  # u1 was new: it joined, nothing merged


def test_a_shared_device_does_not_merge_two_users():
    res = resolve([obs(1, "m1", A1, U1), obs(2, "m2", A1, U2)], RULES)
    assert res.anchor_of[A1] == res.anchor_of[U1]
    assert res.anchor_of[U2] != res.anchor_of[U1]
    assert [(u.identifier, u.message_id) for u in res.unlinked] == [(A1, "m2")]
    assert "user_id" in res.unlinked[0].reason


def test_two_existing_profiles_merge_and_the_merge_is_recorded():
    res = resolve([obs(1, "m1", A1, U1), obs(2, "m2", A2, E1), obs(3, "m3", U1, E1)], RULES)
    assert profiles(res) == {frozenset({A1, U1, A2, E1})}
    (merge,) = res.merges
    # Anchors: each profile's earliest identifier, ties to the higher-priority type.
    assert (merge.at, merge.message_id, merge.into, merge.merged) == (3, "m3", U1, E1)


def test_only_the_conflicting_identifier_stays_out():
    # B signs up on their own device with A's phone number (a shared family phone): the phone
    # stays A's; B's device and e-mail still join B.
    phone, b1, mail = ("phone", "+8613800000001"), ("anonymous_id", "b1"), ("email", "b@x.cn")
    res = resolve([obs(1, "m1", U1, A1, phone), obs(2, "m2", U2, b1, phone, mail)], RULES)
    assert res.anchor_of[phone] == res.anchor_of[U1]
    assert res.anchor_of[b1] == res.anchor_of[mail] == res.anchor_of[U2] != res.anchor_of[U1]
    assert [u.identifier for u in res.unlinked] == [phone]


def test_limit_leaves_the_lowest_priority_identifier_out():
    rules = IdentityRules.from_json({"limits": {"email": 1}})
    res = resolve([obs(1, "m1", U1, E1), obs(2, "m2", U1, E2)], rules)
    assert res.anchor_of[E2] != res.anchor_of[U1]
    assert res.unlinked[0].identifier == E2


def test_windowed_limit_counts_only_recent_links():
    day = 86_400_000_000
    rules = IdentityRules.from_json({"limits": {"anonymous_id": {"max": 2, "window_days": 7}}})
    links = [obs(1 + i * day, f"m{i}", U1, ("anonymous_id", f"a{i}")) for i in range(3)]
    assert len(profiles(resolve(links, rules))) == 2  # the third within a week: left out
    spread = [obs(1 + i * 8 * day, f"m{i}", U1, ("anonymous_id", f"a{i}")) for i in range(3)]
    assert len(profiles(resolve(spread, rules))) == 1


def test_blocks_keep_split_profiles_apart():
    history = [obs(1, "m1", A1, U1), obs(2, "m2", A2, E1), obs(3, "m3", U1, E1)]
    res = resolve(history, RULES, blocks=[(A1, A2)])
    assert res.anchor_of[A2] != res.anchor_of[A1]
    assert res.merges == []


def test_first_seen_elsewhere_decides_the_anchor():
    # u1's first event came before the device's first identify: u1's profile is older.
    res = resolve([obs(5, "m5", A1, U1)], RULES, first_seen={U1: (1, "m0"), A1: (3, "m3")})
    assert res.anchor_of[A1] == U1
    assert len(res.merges) == 1


_ident = st.one_of(
    st.tuples(st.just("anonymous_id"), st.sampled_from(["a1", "a2", "a3", "a4", "a5"])),
    st.tuples(st.just("user_id"), st.sampled_from(["u1", "u2", "u3"])),
    st.tuples(st.just("email"), st.sampled_from(["e1@x.cn", "e2@x.cn", "e3@x.cn", "e4@x.cn"])),
    st.tuples(st.just("phone"), st.sampled_from(["+8613800000001", "+8613800000002"])),
)
_obs = st.builds(
    Observation,
    st.integers(0, 20),
    st.sampled_from(["m1", "m2", "m3", "m4", "m5", "m6"]),
    st.lists(_ident, min_size=1, max_size=4).map(tuple),
)
_rules = st.sampled_from(
    [
        RULES,
        IdentityRules.from_json({"limits": {"email": 1, "phone": 1}}),
        IdentityRules.from_json({"limits": {"anonymous_id": {"max": 2, "window_days": 1}}}),
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_obs, max_size=12), _rules, st.randoms(use_true_random=False))
def test_any_order_gives_the_same_graph(observations, rules, rnd: random.Random):
    first = resolve(observations, rules)
    shuffled = list(observations)
    rnd.shuffle(shuffled)
    again = resolve(shuffled, rules)
    assert again.anchor_of == first.anchor_of
    assert again.merges == first.merges
    assert again.unlinked == first.unlinked


@settings(max_examples=300, deadline=None)
@given(st.lists(_obs, max_size=12), _rules)
def test_limits_hold_in_every_profile(observations, rules):
    res = resolve(observations, rules)
    for group in profiles(res):
        users = [i for i in group if i[0] == "user_id"]
        assert len(users) <= 1  # two user ids never merge
        for kind, limit in rules.limits.items():
            if limit.window_days is None:
                assert sum(1 for i in group if i[0] == kind) <= limit.max
    # Every identifier observed has a profile, and linked identifiers were seen together.
    seen = {i for o in observations for i in o.ids}
    assert set(res.anchor_of) == seen
