"""Deterministic synthetic behaviour data for `haina demo`, in the Segment wire format.

`generate()` plays each visitor's story (channel, device, visits, returns, sign-up, purchases
or leads, offline and WeChat touchpoints) with one seeded `random.Random`, so the same
arguments always give the same messages, whatever the wall clock says when `end` is given.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal, get_args
from urllib.parse import quote

from haina.demo.b2b import b2b_visit
from haina.demo.catalog import (
    B2B_BLOG_PAGES,
    B2B_PAGES,
    B2B_PRODUCT_PAGES,
    B2B_SEARCH_TERMS,
    CAMPAIGNS,
    CATEGORY_PAGES,
    PRODUCTS,
    SHOP_PAGES,
    SHOP_SEARCH_TERMS,
    Page,
)
from haina.demo.session import Arrival, Person, Visit
from haina.demo.shop import shop_visit
from haina.demo.timing import Calendar
from haina.demo.touchpoints import Offline, b2b_follow_ups, store_visits, wechat
from haina.demo.visitors import (
    B2B_HOURS,
    CHANNEL_BY_KEY,
    CHANNELS,
    CITIES,
    CRAWLERS,
    DEVICES,
    MOBILE_IP_PREFIX,
    RETURN_CHANNELS,
    SHOP_HOURS,
    Channel,
    DeviceKind,
)
from haina.demo.weighted import Weighted, choose
from haina.demo.wire import Device, Message, Wire, random_uuid, web_context

Kind = Literal["shop", "b2b"]
KINDS: tuple[str, ...] = get_args(Kind)
CRAWLER_SHARE = 0.01
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ESTIMATE_SAMPLE = 1500
_TERMS = frozenset({"search", "paid"})  # landings whose visitors searched for something


@dataclass(frozen=True, slots=True)
class _Story:
    """What differs between the demo sites; everything else is shared."""

    visit: Callable[[Visit, Arrival], None]
    offline: Offline
    hours: tuple[float, ...]  # visits per local hour of day
    weekend: float  # weekend traffic relative to a weekday
    channels: Weighted[Channel]
    devices: Weighted[DeviceKind]
    wechat_devices: Weighted[DeviceKind]  # for visits from WeChat: mostly its in-app browser
    search_terms: tuple[str, ...]
    crawl_pages: tuple[Page, ...]
    wechat_share: float  # identified people who follow the official account
    account_share: float  # people registered before the period
    companies: bool  # whether people belong to prospect companies (account-based B2B)


_RETURN_CHANNELS = Weighted((CHANNEL_BY_KEY[key], w) for key, w in RETURN_CHANNELS)
_CITY_PICK = Weighted((c, c.weight) for c in CITIES)
_STORIES: dict[str, _Story] = {
    "shop": _Story(
        visit=shop_visit,
        offline=store_visits,
        hours=SHOP_HOURS,
        weekend=1.15,
        channels=Weighted((c, c.shop_weight) for c in CHANNELS),
        devices=Weighted((d, d.shop_weight) for d in DEVICES),
        wechat_devices=Weighted((d, d.shop_weight) for d in DEVICES if d.wechat),
        search_terms=tuple(term for term, _ in SHOP_SEARCH_TERMS),
        crawl_pages=(SHOP_PAGES["home"], *CATEGORY_PAGES.values(), *(p.page for p in PRODUCTS)),
        wechat_share=0.35,
        account_share=0.15,
        companies=False,
    ),
    "b2b": _Story(
        visit=b2b_visit,
        offline=b2b_follow_ups,
        hours=B2B_HOURS,
        weekend=0.3,
        channels=Weighted((c, c.b2b_weight) for c in CHANNELS),
        devices=Weighted((d, d.b2b_weight) for d in DEVICES),
        wechat_devices=Weighted((d, d.b2b_weight) for d in DEVICES if d.wechat),
        search_terms=B2B_SEARCH_TERMS,
        crawl_pages=(*B2B_PAGES.values(), *B2B_PRODUCT_PAGES, *B2B_BLOG_PAGES),
        wechat_share=0.2,
        account_share=0.04,
        companies=True,
    ),
}


def generate(
    users: int,
    days: int,
    *,
    seed: int = 42,
    end: datetime | None = None,
    kind: Kind = "shop",
    batch_size: int = 1000,
    shard: tuple[int, int] = (0, 1),
) -> Iterator[list[Message]]:
    """Yield batches of Segment messages from `users` visitors over the `days` before `end`.

    `end` defaults to the current hour (UTC). Each visitor's messages are in time order and
    come together; batches hold exactly `batch_size` messages except the last. Equal arguments
    give byte-identical output; message ids are unique within a run and differ between runs
    with different arguments, so re-ingesting the same run is deduplicated.

    `shard=(k, n)` yields only the visitors whose index is k modulo n. Every visitor has its
    own random stream and id range, so the n shards together are exactly the whole run and can
    be generated in parallel processes.
    """
    if users < 0 or days < 1 or batch_size < 1:
        raise ValueError("users must be >= 0, days >= 1 and batch_size >= 1")
    if not 0 <= shard[0] < shard[1]:
        raise ValueError("shard must be (k, n) with 0 <= k < n")
    if kind not in _STORIES:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if end is None:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    elif end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    end_ms = (end - _EPOCH) // timedelta(milliseconds=1)
    run = _Run(_STORIES[kind], kind, seed, users, days, end_ms)
    return _batches(run, range(shard[0], users, shard[1]), batch_size)


def estimate_events(users: int, days: int, kind: Kind = "shop") -> int:
    """About how many messages `generate(users, days, kind=kind)` yields (for progress bars).

    Plays a fixed sample of visitors once per (days, kind) and scales; typically within 5%.
    """
    if users < 0 or days < 1 or kind not in _STORIES:
        raise ValueError("users must be >= 0, days >= 1 and kind one of " + ", ".join(KINDS))
    return round(users * _messages_per_visitor(days, kind)) if users else 0


@lru_cache(maxsize=32)
def _messages_per_visitor(days: int, kind: Kind) -> float:
    end = datetime(2026, 1, 5, tzinfo=UTC)
    batches = generate(_ESTIMATE_SAMPLE, days, seed=1, end=end, kind=kind, batch_size=10_000)
    return sum(len(batch) for batch in batches) / _ESTIMATE_SAMPLE


def _batches(run: _Run, visitors: range, batch_size: int) -> Iterator[list[Message]]:
    buffer: list[Message] = []
    for index in visitors:
        buffer += run.visitor(index)
        while len(buffer) >= batch_size:
            yield buffer[:batch_size]
            del buffer[:batch_size]
    if buffer:
        yield buffer


class _Run:
    """The state of one `generate` call: its random stream, clock bounds and id counters."""

    def __init__(
        self, story: _Story, kind: str, seed: int, users: int, days: int, end: int
    ) -> None:
        self.story = story
        self.kind = kind
        self.end = end
        self.start = end - days * 86_400_000
        self.wire = Wire(f"{kind}/{seed}/{users}/{days}/{end}")
        self.seed = f"haina-demo/{kind}/{seed}"
        self.rng = random.Random(self.seed)
        self.calendar = Calendar(self.rng, self.start, end, story.hours, story.weekend)
        self.companies = max(10, users // 5)

    def visitor(self, index: int) -> list[Message]:
        """All messages of one visitor, in time order."""
        rng = self.rng
        rng.seed(f"{self.seed}/{index}")  # each visitor its own stream: shards are independent
        self.wire.begin_visitor(index)
        if rng.random() < CRAWLER_SHARE:
            return self.crawler()
        story = self.story
        person = Person(
            index,
            f"u_{index + 1:07d}",
            _CITY_PICK.pick(rng),
            rng.random() ** 2,
            rng.random() < story.account_share,
            [],
            int(rng.random() * self.companies) if story.companies else -1,
        )
        loyalty = 0.0 if rng.random() < 0.45 else 0.3 + 0.5 * rng.random()
        out: list[Message] = []
        arrival = self.arrival(first=True)
        device = self.device(person, arrival.channel.in_wechat, None)
        t: int | None = self.calendar.first_start()
        visits = 0
        while t is not None:
            visit = Visit(self.wire, rng, person, device, t, self.end, out, arrival)
            story.visit(visit, arrival)
            visits += 1
            keen = 0.25 if person.orders or person.follow_ups else 0.0
            if rng.random() >= min(0.92, loyalty * 0.85**visits + keen + 0.2 * person.intent):
                break
            t = self.calendar.next_start(visit.close())
            arrival = self.arrival(first=False)
            device = self.device_for_return(person, arrival)
        if person.identified_at is not None:  # the back office only knows identified people
            if rng.random() < story.wechat_share:
                out += wechat(self.wire, rng, person, self.kind, self.end)
            out += story.offline(self.wire, rng, person, self.start, self.end)
            out.sort(key=_timestamp)
        return out

    def arrival(self, *, first: bool) -> Arrival:
        """Pick a channel and build the referrer and UTM tags of a visit's landing page."""
        rng = self.rng
        channel = (self.story.channels if first else _RETURN_CHANNELS).pick(rng)
        term = choose(rng, self.story.search_terms) if channel.landing in _TERMS else None
        referrer = choose(rng, channel.referrers)
        if "{" in referrer:
            referrer = referrer.format(
                q=_quote(term or ""),
                n=100_000_000 + _digits(rng, 8),
                h=f"{rng.getrandbits(64):016x}",
            )
        if channel.utm is None or rng.random() >= channel.tagged:
            return Arrival(channel, referrer, "", None, term)
        source, medium = channel.utm
        name = choose(rng, CAMPAIGNS[self.kind])
        campaign = {"source": source, "medium": medium, "name": name}
        query = f"utm_source={source}&utm_medium={medium}&utm_campaign={_quote(name)}"
        if channel.landing == "paid" and term is not None:
            campaign["term"] = term
            query += f"&utm_term={_quote(term)}"
        campaign["content"] = content = f"{medium}_{1 + int(rng.random() * 6)}"
        query += f"&utm_content={content}"
        if channel.click_id:
            query += f"&{channel.click_id}={10**18 + _digits(rng, 18)}"
        # Tagged WeChat links are shared in chats: they open with no referrer.
        return Arrival(channel, "" if channel.in_wechat else referrer, query, campaign, term)

    def device(self, person: Person, in_wechat: bool, other_than: Device | None) -> Device:
        """A new browser for `person`; a second device has the other form factor."""
        rng = self.rng
        story = self.story
        pick = story.wechat_devices if in_wechat and rng.random() < 0.85 else story.devices
        kind = pick.pick(rng)
        if other_than is not None:
            for _ in range(5):
                if (kind.screen[0] < 800) != (other_than.screen[0] < 800):
                    break
                kind = self.story.devices.pick(rng)
        city = person.city
        mobile = kind.screen[0] < 800
        if mobile and city.locale == "zh-CN" and rng.random() < 0.4:
            prefix = MOBILE_IP_PREFIX
        else:
            prefix = choose(rng, city.ip_prefixes)
        ip = prefix + _octets(rng, 4 - prefix.count("."))
        locale = "en-US" if city.locale == "zh-CN" and rng.random() < 0.02 else city.locale
        device = Device(random_uuid(rng), kind.user_agent, ip, locale, city.timezone, kind.screen)
        person.devices.append(device)
        return device

    def device_for_return(self, person: Person, arrival: Arrival) -> Device:
        """Known people sometimes come back on another device (and log in there)."""
        rng, devices = self.rng, person.devices
        if person.identified_at is not None and len(devices) == 1 and rng.random() < 0.3:
            return self.device(person, arrival.channel.in_wechat, devices[0])
        if len(devices) > 1 and rng.random() < 0.4:
            return devices[1]
        return devices[0]

    def crawler(self) -> list[Message]:
        """A search-engine crawler: fast page views, no engagement, no cookies kept."""
        rng, wire, pages = self.rng, self.wire, self.story.crawl_pages
        user_agent, prefix = choose(rng, CRAWLERS)
        ip = prefix + _octets(rng, 1)
        starts = sorted(self.calendar.uniform() for _ in range(1 + rng.randrange(4)))
        out: list[Message] = []
        for t in starts:
            device = Device(random_uuid(rng), user_agent, ip, "en-US", "UTC", (1920, 1080, 1.0))
            for _ in range(3 + rng.randrange(10)):
                if t >= self.end:
                    break
                page = choose(rng, pages)
                context = web_context(device, page, "", None)
                out.append(wire.page(t, device, context, wire.pageview_id()))
                t += 800 + int(rng.random() * 5200)
        return out


def _digits(rng: random.Random, count: int) -> int:
    """A random number below 10**count (`randrange` is several times slower)."""
    return int(rng.random() * 10**count) if count < 15 else rng.getrandbits(64) % 10**count


_quote = lru_cache(maxsize=1024)(quote)  # search terms and campaign names repeat


def _octets(rng: random.Random, count: int) -> str:
    """`count` dot-separated address bytes from 1 to 254."""
    text = str(1 + int(rng.random() * 254))
    for _ in range(count - 1):
        text += f".{1 + int(rng.random() * 254)}"
    return text


def _timestamp(message: Message) -> str:
    return str(message["timestamp"])
