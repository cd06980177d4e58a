"""When people visit: hour-of-day and weekday rhythm in China time, and return gaps."""

from __future__ import annotations

import random

from haina.demo.weighted import Weighted

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
_CHINA_OFFSET_MS = 8 * HOUR_MS
_LAST_START_MS = MINUTE_MS  # visits start up to a minute before the end (and are cut off)


class Calendar:
    """Session start times inside [start, end) that follow a daily and weekly rhythm."""

    __slots__ = ("rng", "start", "end", "_hours", "_weekend", "_first_day", "_last_day")

    def __init__(
        self, rng: random.Random, start: int, end: int, hours: tuple[float, ...], weekend: float
    ) -> None:
        self.rng = rng
        self.start = start
        self.end = end
        self._hours = Weighted(enumerate(hours))
        self._weekend = weekend
        self._first_day = (start + _CHINA_OFFSET_MS) // DAY_MS
        self._last_day = (end - 1 + _CHINA_OFFSET_MS) // DAY_MS

    def uniform(self) -> int:
        """Any moment of the period, ignoring the rhythm (crawlers keep no office hours)."""
        return self.rng.randrange(self.start, self.end - _LAST_START_MS)

    def first_start(self) -> int:
        """A first visit: a day of the period (weekdays and weekends weighted), an hour."""
        rng = self.rng
        busiest = max(1.0, self._weekend)
        for _ in range(20):
            day = self._first_day + int(rng.random() * (self._last_day - self._first_day + 1))
            weekend = (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday
            if rng.random() * busiest > (self._weekend if weekend else 1.0):
                continue
            t = self._on_day(day)
            if self.start <= t < self.end - _LAST_START_MS:
                return t
        return self.uniform()

    def next_start(self, after: int) -> int | None:
        """A return visit after a visit that ended at `after`; None if it falls past the end.

        One in five returns the same day; the others after a long-tailed number of days.
        """
        rng = self.rng
        if rng.random() < 0.2:
            t = after + rng.randint(30 * MINUTE_MS, 8 * HOUR_MS)
        else:
            day = (after + _CHINA_OFFSET_MS) // DAY_MS + 1 + int(rng.expovariate(0.2))
            t = max(self._on_day(day), after + 30 * MINUTE_MS)
        return t if t < self.end - _LAST_START_MS else None

    def _on_day(self, day: int) -> int:
        """A moment of local `day` at an hour drawn from the daily rhythm, as epoch ms (UTC)."""
        rng = self.rng
        hour = self._hours.pick(rng)
        return day * DAY_MS + hour * HOUR_MS + int(rng.random() * HOUR_MS) - _CHINA_OFFSET_MS
