"""Which messageIds were received recently, in memory: the duplicate check at acknowledgement.

A request is answered once its rows are in the journal, before DuckDB's `dedup` table sees
them, so the answer's `duplicates` count comes from here: 64-bit hashes of (workspace,
messageId) in open-addressing tables, one per UTC day of receipt, dropped when the day leaves
the deduplication window. Eight bytes a key at half load: 7 days of 1 million events a day is
about 112 MB. A hash collision (about 1 in 10^12 at that size) would only miscount an answer:
the loader's insert into `dedup` is the exact check and decides what is stored.
"""

from __future__ import annotations

import hashlib

import numpy as np

_EMPTY = np.uint64(0)
_SEP = "\x1f"
DAY_US = 86_400_000_000


def hashes_of(keys: list[tuple[str, str]]) -> np.ndarray:
    return np.fromiter((key_hash(w, m) for w, m in keys), dtype=np.uint64, count=len(keys))


def key_hash(workspace_id: str, message_id: str) -> int:
    """The low 64 bits of md5(workspace \\x1f messageId), little-endian; DuckDB computes the
    same with `md5_number(...)`'s low 64 bits (see `HASH_SQL`). Never 0 (0 marks a free slot)."""
    digest = hashlib.md5(f"{workspace_id}{_SEP}{message_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") or 1


HASH_SQL = (
    "greatest((md5_number(workspace_id || chr(31) || message_id)"
    " & 18446744073709551615::UHUGEINT)::UBIGINT, 1::UBIGINT)"
)


class HashSet:
    """A set of nonzero uint64 with vectorised insert: linear probing in a power-of-two table."""

    def __init__(self, capacity: int = 1 << 12) -> None:
        self.table = np.zeros(capacity, dtype=np.uint64)
        self.count = 0

    def add(self, hashes: np.ndarray) -> np.ndarray:
        """Insert distinct hashes; returns a mask of those that were not present before."""
        if len(hashes) == 0:
            return np.zeros(0, dtype=bool)
        if (self.count + len(hashes)) * 2 > len(self.table):
            self._grow(self.count + len(hashes))
        return self._probe(hashes, insert=True)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        if self.count == 0 or len(hashes) == 0:
            return np.zeros(len(hashes), dtype=bool)
        return ~self._probe(hashes, insert=False)

    def _probe(self, hashes: np.ndarray, *, insert: bool) -> np.ndarray:
        """True where the hash was absent (and, with `insert`, is now present)."""
        mask = np.uint64(len(self.table) - 1)
        absent = np.zeros(len(hashes), dtype=bool)
        todo = np.arange(len(hashes))
        slot = hashes & mask
        while len(todo):
            h = hashes[todo]
            here = self.table[slot]
            empty = here == _EMPTY
            found = here == h
            if insert and empty.any():
                # Several hashes may want the same free slot: the first of them takes it, the
                # others look again (the slot is now taken) in the next round.
                cand = np.flatnonzero(empty)
                _, first = np.unique(slot[cand], return_index=True)
                won = cand[first]
                self.table[slot[won]] = h[won]
                absent[todo[won]] = True
                self.count += len(won)
                done = found.copy()
                done[won] = True
            else:
                absent[todo[empty]] = True
                done = found | empty
            keep = ~done
            # The losers of a contested slot retry it; everyone else still going moves on.
            step = (~empty).astype(np.uint64)
            if insert and empty.any():
                step[np.flatnonzero(empty)] = 0
            slot = ((slot + step) & mask)[keep]
            todo = todo[keep]
        return absent

    def _grow(self, need: int) -> None:
        size = len(self.table)
        while need * 2 > size:
            size *= 2
        old = self.table[self.table != _EMPTY]
        self.table = np.zeros(size, dtype=np.uint64)
        self.count = 0
        self._probe(old, insert=True)
        self.count = len(old)


class RecentKeys:
    """The hashes of keys received in the last `days` UTC days (plus today), by day."""

    def __init__(self, days: int) -> None:
        self.days = days
        self._by_day: dict[int, HashSet] = {}

    def load(self, hashes: np.ndarray, days: np.ndarray) -> None:
        """Add keys read back from the store (a restart): `days` are UTC day numbers."""
        for day in np.unique(days):
            self._set(int(day)).add(np.unique(hashes[days == day]))

    def _set(self, day: int) -> HashSet:
        hs = self._by_day.get(day)
        if hs is None:
            hs = self._by_day[day] = HashSet()
            for old in [d for d in self._by_day if d < day - self.days - 1]:
                del self._by_day[old]
        return hs

    def fresh(self, hashes: np.ndarray) -> np.ndarray:
        """A mask over `hashes`: not seen in the window, and the first of its value here."""
        if len(hashes) == 0:
            return np.zeros(0, dtype=bool)
        uniq, first = np.unique(hashes, return_index=True)
        seen = np.zeros(len(uniq), dtype=bool)
        for hs in self._by_day.values():
            seen |= hs.contains(uniq)
        out = np.zeros(len(hashes), dtype=bool)
        out[first[~seen]] = True
        return out

    def add(self, hashes: np.ndarray, day: int) -> None:
        """Remember keys as received on UTC day `day` (once they are durable)."""
        if len(hashes):
            self._set(day).add(np.unique(hashes))

    @property
    def count(self) -> int:
        return sum(hs.count for hs in self._by_day.values())
