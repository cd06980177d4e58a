"""A person and one visit of theirs: page views, the events on each page, engagement.

A `Visit` keeps the clock. `view()` sends a page and decides how long the visitor stays;
`track()` places an event inside that stay; the `$engagement` event for a page is sent when
the visitor leaves it (on the next view, or at `close()`), as the browser tracker does.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, NamedTuple

from haina.demo.catalog import Page, with_query
from haina.demo.visitors import Channel, City
from haina.demo.wire import Device, Message, Wire, web_context

MAX_ENGAGED_MS = 30 * 60 * 1000  # the session timeout caps engaged time per page view
_LAST_VIEW_MS = 5_000  # no page view starts closer than this to the end of the period
# Engaged time is log-normal around a page's median (sigma 0.9): a quantile table is much
# cheaper than `lognormvariate` per page view.
_LOG_NORMAL_STEPS = 1024
_LOG_NORMAL = tuple(
    math.exp(0.9 * NormalDist().inv_cdf((i + 0.5) / _LOG_NORMAL_STEPS))
    for i in range(_LOG_NORMAL_STEPS)
)


@dataclass(slots=True, eq=False)
class Person:
    """One human visitor across all their devices and visits."""

    index: int
    user_id: str  # the id the site assigns on sign-up; sent only once identified
    city: City
    intent: float  # 0..1, how likely to buy / request a demo
    has_account: bool  # registered before the demo period began
    devices: list[Device]
    company: int = -1  # b2b: index into the company table
    traits: dict[str, Any] | None = None  # set when first identified
    identified_at: int | None = None
    checkouts: int = 0
    orders: int = 0
    cart: list[Any] = field(default_factory=list)
    # Things the back office follows up offline: (what, epoch ms, detail).
    follow_ups: list[tuple[str, int, str]] = field(default_factory=list)


class Arrival(NamedTuple):
    """How a visit starts: channel, referrer, UTM tags on the landing URL, search term."""

    channel: Channel
    referrer: str
    query: str
    campaign: dict[str, str] | None
    term: str | None


class Visit:
    """The clock and the output of one visit (session) on one device."""

    __slots__ = (
        "wire",
        "rng",
        "person",
        "device",
        "t",
        "end",
        "out",
        "arrival",
        "first_median",
        "page",
        "pages",
        "_context",
        "_pageview_id",
        "_engaged_ms",
        "_leave",
    )

    def __init__(
        self,
        wire: Wire,
        rng: random.Random,
        person: Person,
        device: Device,
        t: int,
        end: int,
        out: list[Message],
        arrival: Arrival,
    ) -> None:
        self.wire = wire
        self.rng = rng
        self.person = person
        self.device = device
        self.t = t  # time of the latest message sent
        self.end = end  # the period's end: nothing may be sent at or after it
        self.out = out
        self.arrival: Arrival | None = arrival  # consumed by the first view (the landing page)
        self.first_median = 0.0  # when set, overrides the landing page's median stay (bounces)
        self.page: Page | None = None
        self._context: dict[str, Any] = {}  # the current page view's `context`
        self.pages = 0
        self._pageview_id = ""
        self._engaged_ms = 0
        self._leave = t

    @property
    def open(self) -> bool:
        """Whether there is time left in the period for another page view."""
        return self._leave + _LAST_VIEW_MS < self.end

    def view(self, page: Page, median_s: float) -> bool:
        """Leave the current page and view `page`; False (and nothing sent) if time is up.

        The first view of a visit is the landing page: it gets the arrival's referrer and the
        UTM tags on its URL. Later views have the previous page as referrer.
        """
        referrer, campaign = "", None
        if self.page is not None:
            self._send_engagement()
            referrer = self.page.url
            self.page = None
            self.t = self._leave + 300 + int(self.rng.random() * 3700)
        elif self.arrival is not None:
            arrival, self.arrival = self.arrival, None
            referrer, campaign = arrival.referrer, arrival.campaign
            page = with_query(page, arrival.query) if arrival.query else page
            median_s = self.first_median or median_s
        t = self.t
        if t + _LAST_VIEW_MS >= self.end:
            return False
        self.page = page
        self.pages += 1
        # The tracker reads UTM tags from the current URL: every call on a tagged page has them.
        self._context = context = web_context(self.device, page, referrer, campaign)
        self._pageview_id = pageview_id = self.wire.pageview_id()
        self.out.append(self.wire.page(t, self.device, context, pageview_id))
        random = self.rng.random
        spread = _LOG_NORMAL[int(random() * _LOG_NORMAL_STEPS)] * (0.97 + 0.06 * random())
        engaged = min(max(int(median_s * 1000 * spread), 200), MAX_ENGAGED_MS)
        self._engaged_ms = engaged
        self._leave = t + engaged + int(engaged * 0.4 * random()) + 200 + int(random() * 2800)
        return True

    def track(self, event: str, properties: dict[str, Any]) -> None:
        """Send an event a moment after the previous one, inside the current page view.

        Like everything else, it is not sent if it would fall after the end of the period.
        """
        assert self.page is not None
        self.t += 400 + int(self.rng.random() * 5600)
        self._leave = max(self._leave, self.t)
        if self.t < self.end:
            self.out.append(self.wire.track(self.t, self.device, self._context, event, properties))

    def identify(self, traits: dict[str, Any]) -> bool:
        """The person signs up or logs in on this device: later messages carry the userId.

        False (nothing sent, nobody identified) if the period ends first.
        """
        assert self.page is not None
        self.t += 300 + int(self.rng.random() * 1700)
        self._leave = max(self._leave, self.t)
        if self.t >= self.end:
            return False
        person = self.person
        self.device.user_id = person.user_id
        if person.identified_at is None:
            person.identified_at = self.t
        self.out.append(self.wire.identify(self.t, self.device, self._context, traits))
        return True

    def alias(self) -> None:
        assert self.page is not None
        self.out.append(self.wire.alias(self.t, self.device, self._context, self.person.user_id))

    def group(self, group_id: str, traits: dict[str, Any]) -> None:
        assert self.page is not None
        self.out.append(self.wire.group(self.t, self.device, self._context, group_id, traits))

    def close(self) -> int:
        """End the visit (the tab is hidden or closed); returns the time of the last message."""
        if self.page is not None:
            self._send_engagement()
            self.t = self._leave
            self.page = None
        return self.t

    def _send_engagement(self) -> None:
        page = self.page
        assert page is not None
        if self._leave >= self.end:
            return  # still on the page when the period ends
        engaged = self._engaged_ms
        ratio = engaged / (engaged + 20_000)
        scroll = min(100, int(100 * ratio * (0.5 + self.rng.random())) + 5)
        properties = {
            "url": page.url,
            "path": page.path,
            "pageview_id": self._pageview_id,
            "engaged_ms": engaged,
            "scroll_depth": scroll,
        }
        self.out.append(
            self.wire.track(self._leave, self.device, self._context, "$engagement", properties)
        )
