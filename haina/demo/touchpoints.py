"""Touchpoints off the website, sent by back-office systems after a person has identified.

Store visits (the POS), event check-ins (badge scans, webinar attendance), sales calls (the
CRM) and WeChat official-account interactions (its callback). All are server-side track
calls; offline ones carry `properties.source = "offline"`.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator
from typing import Any

from haina.demo.catalog import (
    SALES_REPS,
    STORES,
    TRADE_SHOWS,
    WECHAT_ACCOUNTS,
    WECHAT_ARTICLES,
    WECHAT_MENUS,
)
from haina.demo.session import Person
from haina.demo.weighted import Weighted, choose
from haina.demo.wire import Message, Wire

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
_CHINA_OFFSET_MS = 8 * HOUR_MS
_OPENID_ALPHABET = string.ascii_letters + string.digits + "-_"
_CALL_OUTCOME = Weighted(
    [("connected", 45), ("no_answer", 25), ("meeting_booked", 20), ("not_interested", 10)]
)
_STORES_BY_CITY: dict[str, list[tuple[str, str, str]]] = {}
for _store in STORES:
    _STORES_BY_CITY.setdefault(_store[2], []).append(_store)


Offline = Callable[[Wire, random.Random, Person, int, int], Iterator[Message]]


def wechat(
    wire: Wire, rng: random.Random, person: Person, kind: str, end: int
) -> Iterator[Message]:
    """A follower of the official account reads articles and taps menu items."""
    if person.identified_at is None:
        return
    openid = "o" + "".join(choose(rng, _OPENID_ALPHABET) for _ in range(27))
    external_id = {"id": openid, "type": "wechat_openid", "collection": "users", "encoding": "none"}
    account = WECHAT_ACCOUNTS[kind]
    t = person.identified_at
    for _ in range(1 + int(rng.expovariate(0.4))):
        t += int(rng.expovariate(1 / (4 * DAY_MS))) + HOUR_MS
        if t >= end:
            return
        properties: dict[str, Any]
        if rng.random() < 0.7:
            title = choose(rng, WECHAT_ARTICLES[kind])
            properties = {
                "article_title": title,
                "account": account,
                "article_url": f"https://mp.weixin.qq.com/s/{openid[1:23]}",
            }
            event = "WeChat Article Read"
        else:
            properties = {"menu_name": choose(rng, WECHAT_MENUS[kind]), "account": account}
            event = "WeChat Menu Clicked"
        properties["source"] = "wechat"
        yield wire.server_track(
            t,
            event,
            properties,
            user_id=person.user_id,
            context={"externalIds": [dict(external_id)]},
        )


def store_visits(
    wire: Wire, rng: random.Random, person: Person, start: int, end: int
) -> Iterator[Message]:
    """Members in a city with a store drop in; the POS knows them by member id or phone."""
    if person.identified_at is None or person.traits is None:
        return
    stores = _STORES_BY_CITY.get(person.city.name)
    if not stores or rng.random() >= 0.3:
        return
    t = person.identified_at
    for _ in range(rng.randint(1, 3)):
        t = _local_time(rng, t + int(rng.expovariate(1 / (6 * DAY_MS))) + DAY_MS, 10, 21)
        if t >= end:
            return
        store_id, store_name, city = choose(rng, stores)
        properties = {
            "store_id": store_id,
            "store_name": store_name,
            "city": city,
            "source": "offline",
        }
        if rng.random() < 0.7:
            yield wire.server_track(t, "Store Visited", properties, user_id=person.user_id)
        else:  # scanned a phone number at the till, not a member code
            yield wire.server_track(
                t,
                "Store Visited",
                properties,
                user_id=None,
                anonymous_id=f"pos-{person.index:08d}",
                context={"traits": {"phone": person.traits["phone"]}},
            )
    if rng.random() < 0.1:
        t = _local_time(rng, t + DAY_MS, 14, 17)
        if t < end:
            yield wire.server_track(
                t,
                "Event Checked In",
                {
                    "event_name": "海纳优选会员日·线下体验会",
                    "event_type": "member_day",
                    "city": person.city.name,
                    "source": "offline",
                },
                user_id=person.user_id,
            )


def b2b_follow_ups(
    wire: Wire, rng: random.Random, person: Person, start: int, end: int
) -> Iterator[Message]:
    """Webinar attendance, trade-show badge scans and the sales team's calls."""
    if person.identified_at is None:
        return
    for what, t, detail in person.follow_ups:
        if what == "webinar" and rng.random() < 0.45:
            t += rng.randint(0, 10 * 60_000)
            if t < end:
                yield wire.server_track(
                    t,
                    "Event Checked In",
                    {"event_name": detail, "event_type": "webinar", "source": "webinar"},
                    user_id=person.user_id,
                )
        elif what in ("demo", "trial") and (what == "demo" or rng.random() < 0.5):
            yield from _sales_calls(wire, rng, person, t, end, what)
    for n, show in enumerate(TRADE_SHOWS):
        # The shows take place 40% and 80% of the way through the period.
        day = start + (end - start) * (2 + 2 * n) // 5
        t = _local_time(rng, day, 10, 17)
        if person.identified_at < t < end and rng.random() < 0.12:
            yield wire.server_track(
                t,
                "Event Checked In",
                {
                    "event_name": show,
                    "event_type": "trade_show",
                    "booth": "A12",
                    "source": "offline",
                },
                user_id=person.user_id,
            )


def _sales_calls(
    wire: Wire, rng: random.Random, person: Person, t: int, end: int, reason: str
) -> Iterator[Message]:
    rep = choose(rng, SALES_REPS)
    for call in range(rng.randint(1, 3)):
        t = _local_time(rng, t + (HOUR_MS * 2 if call == 0 else DAY_MS * rng.randint(2, 6)), 9, 18)
        if t >= end:
            return
        outcome = _CALL_OUTCOME.pick(rng)
        duration = 0 if outcome == "no_answer" else int(rng.lognormvariate(5.5, 0.6))
        yield wire.server_track(
            t,
            "Sales Call Logged",
            {
                "sales_rep": rep,
                "outcome": outcome,
                "duration_s": duration,
                "reason": reason,
                "source": "offline",
            },
            user_id=person.user_id,
        )


def _local_time(rng: random.Random, t: int, open_hour: int, close_hour: int) -> int:
    """A random moment between the opening hours (China time) on the day of `t` or after."""
    local = t + _CHINA_OFFSET_MS
    day = local // DAY_MS
    moment = day * DAY_MS + rng.randrange(open_hour * HOUR_MS, close_hour * HOUR_MS)
    if moment < local:
        moment += DAY_MS
    return moment - _CHINA_OFFSET_MS
