"""Identity resolution: which identifiers are one person, decided from the messages that
carried them together.

Pure and deterministic: `resolve` sorts the observations by (event time, messageId,
identifiers) and links them in that order, so the same messages give the same graph whatever
order they arrived in. Rules (docs/profiles.md):

- an observation links its identifiers, in priority order, to the profile of its
  highest-priority one; an identifier whose profile may not join it (that would hold more
  identifiers of a type than the type's limit, or join two sides of an admin's split) is left
  out, the others still link (two user ids never link: their limit is one);
- a profile's anchor is its earliest-seen identifier (ties: higher priority, then value); the
  person id is derived from the anchor, so a profile keeps its id when identifiers join it,
  and the older profile's id survives a merge;
- a merge is recorded when an observation joins profiles that existed before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from haina.identity.rules import IdentityRules

Ident = tuple[str, str]  # (type, value), normalised
Seen = tuple[int, str]  # (event time in UTC microseconds, messageId)
DAY_US = 86_400_000_000


@dataclass(frozen=True, slots=True, order=True)
class Observation:
    """Identifiers seen together in one message (the earliest message, for repeats)."""

    ts: int
    message_id: str
    ids: tuple[Ident, ...]


@dataclass(frozen=True, slots=True)
class Merge:
    at: int
    message_id: str
    into: Ident  # the surviving profile's anchor at the time
    merged: Ident  # the anchor of the profile merged into it
    identifiers: tuple[Ident, ...]  # the message's identifiers that linked


@dataclass(frozen=True, slots=True)
class Unlinked:
    at: int
    message_id: str
    identifier: Ident
    reason: str


@dataclass(slots=True)
class Resolution:
    anchor_of: dict[Ident, Ident] = field(default_factory=dict)  # identifier → profile anchor
    merges: list[Merge] = field(default_factory=list)
    unlinked: list[Unlinked] = field(default_factory=list)


def canonical(ids: Iterable[Ident], rules: IdentityRules) -> tuple[Ident, ...]:
    """Distinct identifiers, highest priority first (ties by value)."""
    return tuple(sorted(set(ids), key=lambda i: (rules.rank(i[0]), i[0], i[1])))


def resolve(
    observations: Iterable[Observation],
    rules: IdentityRules,
    *,
    first_seen: Mapping[Ident, Seen] | None = None,
    blocks: Iterable[tuple[Ident, Ident]] = (),
) -> Resolution:
    """Link `observations` under `rules`. `first_seen`: each identifier's earliest sighting
    in any message (defaults to its earliest observation here); `blocks`: pairs of identifiers
    that an admin split apart and that may never be in one profile."""
    ordered = sorted(observations)
    seen: dict[Ident, Seen] = dict(first_seen or {})
    for obs in ordered:
        for ident in obs.ids:
            at = (obs.ts, obs.message_id)
            given = first_seen is not None and ident in first_seen
            if not given and (ident not in seen or at < seen[ident]):
                seen[ident] = at
    blocked: dict[Ident, set[Ident]] = {}
    for a, b in blocks:
        blocked.setdefault(a, set()).add(b)
        blocked.setdefault(b, set()).add(a)
    g = _Graph(rules, seen, blocked)
    out = Resolution()
    for obs in ordered:
        g.link(obs, out)
    for ident in g.parent:
        out.anchor_of[ident] = g.anchor[g.find(ident)]
    return out


class _Graph:
    def __init__(
        self, rules: IdentityRules, seen: dict[Ident, Seen], blocked: dict[Ident, set[Ident]]
    ) -> None:
        self.rules = rules
        self.seen = seen
        self.blocked = blocked
        self.parent: dict[Ident, Ident] = {}
        # Per profile (by root): its identifiers by type, and those an admin's split names.
        self.by_type: dict[Ident, dict[str, list[Ident]]] = {}
        self.split_members: dict[Ident, list[Ident]] = {}
        self.anchor: dict[Ident, Ident] = {}
        self.joined: dict[Ident, int] = {}  # when each identifier joined its profile

    def _key(self, ident: Ident) -> tuple[Seen, int, str, str]:
        return (self.seen[ident], self.rules.rank(ident[0]), ident[0], ident[1])

    def add(self, ident: Ident, ts: int) -> None:
        if ident not in self.parent:
            self.parent[ident] = ident
            self.by_type[ident] = {ident[0]: [ident]}
            self.split_members[ident] = [ident] if ident in self.blocked else []
            self.anchor[ident] = ident
            self.joined[ident] = ts

    def find(self, ident: Ident) -> Ident:
        root = ident
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[ident] != root:  # path compression
            self.parent[ident], ident = root, self.parent[ident]
        return root

    def link(self, obs: Observation, out: Resolution) -> None:
        """Link the identifiers one by one in priority order to the profile of the first:
        one whose profile may not join (a limit, a split) stays out, the rest still link."""
        ids = canonical(obs.ids, self.rules)
        for ident in ids:
            self.add(ident, obs.ts)
        at = (obs.ts, obs.message_id)
        for ident in ids[1:]:
            head, other = self.find(ids[0]), self.find(ident)
            if head == other:
                continue
            reason = self._refusal([head, other], obs.ts)
            if reason is None:
                self._union([head, other], obs, at, ids, out)
            else:
                out.unlinked.append(Unlinked(obs.ts, obs.message_id, ident, reason))

    def _refusal(self, roots: list[Ident], ts: int) -> str | None:
        """Why these profiles may not become one (None: they may)."""
        winner = min(roots, key=lambda r: self._key(self.anchor[r]))
        kinds = {k for r in roots for k in self.by_type[r]}
        for kind in sorted(kinds):
            limit = self.rules.limit(kind)
            if limit is None:
                continue
            if limit.window_days is None:
                n = sum(len(self.by_type[r].get(kind, ())) for r in roots)
            else:
                # Identifiers of the merged-in profiles join now; the winner's keep their time.
                cutoff = ts - limit.window_days * DAY_US
                n = sum(
                    1
                    for r in roots
                    for m in self.by_type[r].get(kind, ())
                    if (self.joined[m] if r == winner else ts) >= cutoff
                )
            if n > limit.max:
                window = f" in {limit.window_days} days" if limit.window_days else ""
                return f"limit: at most {limit.max} {kind}{window} per profile"
        for root in roots:
            for m in self.split_members[root]:
                for other in self.blocked[m]:
                    if other in self.parent:
                        r = self.find(other)
                        if r != root and r in roots:
                            return "split: an admin separated these profiles"
        return None

    def _union(
        self,
        roots: list[Ident],
        obs: Observation,
        at: Seen,
        ids: tuple[Ident, ...],
        out: Resolution,
    ) -> None:
        roots.sort(key=lambda r: self._key(self.anchor[r]))
        winner = roots[0]
        into = self.anchor[winner]
        for root in roots[1:]:
            merged = self.anchor[root]
            # A profile existed before this message if its anchor was seen earlier.
            if self.seen[merged] < at and self.seen[into] < at:
                out.merges.append(Merge(obs.ts, obs.message_id, into, merged, ids))
            for kind, ms in self.by_type.pop(root).items():
                for m in ms:
                    self.joined[m] = obs.ts
                self.by_type[winner].setdefault(kind, []).extend(ms)
            self.split_members[winner].extend(self.split_members.pop(root))
            self.parent[root] = winner
            del self.anchor[root]
