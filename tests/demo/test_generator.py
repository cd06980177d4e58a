"""The demo data generator: determinism, wire format, and a story that reports can use."""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haina.demo import estimate_events, generate
from haina.demo.catalog import SHOP_HOME
from haina.demo.session import Arrival, Person, Visit
from haina.demo.visitors import CHANNEL_BY_KEY, CITIES
from haina.demo.wire import Device, Wire

END = datetime(2026, 11, 1, 12, tzinfo=UTC)
TYPES = {"identify", "track", "page", "screen", "group", "alias"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
Message = dict[str, Any]


def run(users: int, days: int, **kwargs: Any) -> list[Message]:
    return [
        m for batch in generate(users, days, end=kwargs.pop("end", END), **kwargs) for m in batch
    ]


@pytest.fixture(scope="module")
def shop() -> list[Message]:
    return run(2000, 30, kind="shop")


@pytest.fixture(scope="module")
def b2b() -> list[Message]:
    return run(2000, 30, kind="b2b")


def parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def problems(message: Message, start: datetime, end: datetime) -> list[str]:
    """What is wrong with one message per the Segment spec and our period."""
    found = []
    kind = message.get("type")
    if kind not in TYPES:
        found.append("type")
    if not isinstance(message.get("messageId"), str) or not 0 < len(message["messageId"]) < 100:
        found.append("messageId")
    if kind != "alias" and not (message.get("userId") or message.get("anonymousId")):
        found.append("identity")
    if kind == "track" and not (isinstance(message.get("event"), str) and message["event"]):
        found.append("event")
    if kind == "alias" and not (message.get("previousId") and message.get("userId")):
        found.append("alias ids")
    if kind == "group" and not message.get("groupId"):
        found.append("groupId")
    timestamp = message.get("timestamp")
    if not isinstance(timestamp, str) or not TIMESTAMP.match(timestamp):
        found.append("timestamp format")
    elif not start <= parse(timestamp) < end:
        found.append("timestamp outside period")
    library = message.get("context", {}).get("library", {})
    if library not in ({"name": "haina.js", "version": "0.1.0"}, {"name": "haina-demo-server"}):
        found.append("library")
    return found


def by_visitor(messages: list[Message]) -> dict[str, list[Message]]:
    visitors: dict[str, list[Message]] = defaultdict(list)
    for m in messages:
        visitors[m.get("anonymousId") or m["userId"]].append(m)
    return visitors


def test_same_arguments_give_byte_identical_output() -> None:
    first = json.dumps(run(300, 14, seed=7), ensure_ascii=False)
    second = json.dumps(run(300, 14, seed=7), ensure_ascii=False)
    assert first == second


def test_other_seed_or_kind_gives_another_story() -> None:
    def story(messages: list[Message]) -> list[tuple[Any, ...]]:
        return [(m["type"], m.get("event"), m["timestamp"]) for m in messages]

    base = story(run(300, 14, seed=7))
    assert story(run(300, 14, seed=8)) != base
    assert story(run(300, 14, seed=7, kind="b2b")) != base


def test_message_ids_differ_between_runs_with_different_arguments() -> None:
    ids = {m["messageId"] for m in run(200, 7, seed=1)}
    assert ids.isdisjoint(m["messageId"] for m in run(200, 7, seed=2))
    assert ids.isdisjoint(m["messageId"] for m in run(200, 8, seed=1))


@pytest.mark.parametrize("kind", ["shop", "b2b"])
def test_every_message_is_valid_segment(kind: str, shop: list[Message], b2b: list[Message]) -> None:
    messages = shop if kind == "shop" else b2b
    start = END - timedelta(days=30)
    bad = [(m, p) for m in messages if (p := problems(m, start, END))]
    assert bad == []
    assert len({m["messageId"] for m in messages}) == len(messages)
    json.dumps(messages)  # serialisable as it stands


@settings(max_examples=12, deadline=None)
@given(users=st.integers(0, 40), days=st.integers(1, 60), seed=st.integers(0, 2**32))
def test_any_arguments_give_valid_messages_inside_the_period(
    users: int, days: int, seed: int
) -> None:
    messages = run(users, days, seed=seed, kind="b2b" if seed % 2 else "shop")
    start = END - timedelta(days=days)
    assert [p for m in messages if (p := problems(m, start, END))] == []
    assert len({m["messageId"] for m in messages}) == len(messages)


def test_visits_in_progress_at_the_end_are_cut_off() -> None:
    end = datetime(2026, 11, 1, 14, tzinfo=UTC)  # 22:00 in China, the shop's busiest hour
    stamps = [parse(m["timestamp"]) for m in run(3000, 1, end=end)]
    assert max(stamps) < end
    assert sum(1 for t in stamps if t >= end - timedelta(minutes=2)) >= 5
    assert sum(1 for t in stamps if t == end - timedelta(milliseconds=1)) <= 1  # no pile-up


def test_a_visit_running_into_the_end_sends_nothing_after_it() -> None:
    end_ms = int(END.timestamp() * 1000)
    for start in range(end_ms - 60_000, end_ms - 4_000, 2_000):
        out: list[Message] = []
        person = Person(0, "u_1", CITIES[0], 1.0, True, [])
        device = Device("a-1", "ua", "1.2.3.4", "zh-CN", "Asia/Shanghai", (390, 844, 3.0))
        arrival = Arrival(CHANNEL_BY_KEY["direct"], "", "", None, None)
        visit = Visit(
            Wire("test"), random.Random(start), person, device, start, end_ms, out, arrival
        )
        while visit.view(SHOP_HOME, 3):
            for _ in range(4):
                visit.track("Product Viewed", {})
            visit.identify({"name": "测试"})
        visit.close()
        assert out and all(parse(m["timestamp"]) < END for m in out)
        views = Counter(m["properties"]["pageview_id"] for m in out if m["type"] == "page")
        engaged = Counter(
            m["properties"]["pageview_id"] for m in out if m.get("event") == "$engagement"
        )
        assert set(views.values()) == {1} and set(engaged.values()) <= {1}


def test_default_end_is_the_current_hour() -> None:
    now = datetime.now(UTC)
    messages = [m for batch in generate(50, 2) for m in batch]
    hour = now.replace(minute=0, second=0, microsecond=0)
    assert messages
    assert all(hour - timedelta(days=2) <= parse(m["timestamp"]) < hour for m in messages)


def test_each_visitors_messages_are_in_time_order(shop: list[Message]) -> None:
    for messages in by_visitor(shop).values():
        stamps = [m["timestamp"] for m in messages]
        assert stamps == sorted(stamps)


def test_batches_are_full_except_the_last() -> None:
    sizes = [len(batch) for batch in generate(300, 7, end=END, batch_size=250)]
    assert len(sizes) > 2
    assert set(sizes[:-1]) == {250} and 0 < sizes[-1] <= 250
    assert list(generate(0, 7, end=END)) == []


@pytest.mark.parametrize(
    "arguments",
    [
        {"users": -1, "days": 7},
        {"users": 10, "days": 0},
        {"users": 10, "days": 7, "batch_size": 0},
        {"users": 10, "days": 7, "kind": "blog"},
    ],
)
def test_bad_arguments_are_refused_at_once(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        generate(**arguments)


def test_web_messages_carry_what_the_tracker_sends(shop: list[Message]) -> None:
    pages = [m for m in shop if m["type"] == "page"]
    for m in pages:
        context = m["context"]
        assert set(context["page"]) == {"url", "path", "referrer", "title", "search"}
        assert context["page"]["url"].startswith("https://shop.example.cn/")
        assert context["userAgent"] and context["ip"] and context["locale"]
        assert m["properties"]["pageview_id"] and m["name"] == context["page"]["title"]
    tagged = 0
    for m in pages:
        context = m["context"]
        assert ("campaign" in context) == ("utm_source=" in context["page"]["search"])
        if "campaign" in context:
            tagged += 1
            assert {"source", "medium", "name"} <= set(context["campaign"])
    assert tagged > 0
    searches = [m for m in pages if m["context"]["page"]["path"] == "/search"]
    terms = {parse_qs(m["context"]["page"]["search"][1:])["q"][0] for m in searches}
    assert any(re.search(r"[\u4e00-\u9fff]", t) for t in terms)
    assert any(t.isascii() for t in terms)


def test_every_page_view_has_engagement(shop: list[Message]) -> None:
    viewed = {
        m["properties"]["pageview_id"]: parse(m["timestamp"])
        for m in shop
        if m["type"] == "page"
        and "bot" not in m["context"]["userAgent"].lower()
        and "spider" not in m["context"]["userAgent"].lower()
    }
    engagements = [m for m in shop if m.get("event") == "$engagement"]
    engaged_views = {m["properties"]["pageview_id"] for m in engagements}
    assert len(engaged_views) == len(engagements)  # one per page view
    assert engaged_views <= set(viewed)
    # Only pages still open when the period ends have not reported engagement yet.
    open_at_end = [t for pageview_id, t in viewed.items() if pageview_id not in engaged_views]
    assert all(t > END - timedelta(minutes=45) for t in open_at_end)
    engaged = sorted(m["properties"]["engaged_ms"] for m in engagements)
    median = engaged[len(engaged) // 2]
    assert 5_000 <= median <= 60_000
    assert engaged[int(len(engaged) * 0.99)] > 5 * median  # long-tailed
    assert all(0 <= m["properties"]["scroll_depth"] <= 100 for m in engagements)


def test_single_page_visits_are_common_but_not_the_rule(shop: list[Message]) -> None:
    pages_per_session = []
    for messages in by_visitor(shop).values():
        last: datetime | None = None
        for m in (m for m in messages if m["type"] == "page"):
            t = parse(m["timestamp"])
            if last is None or t - last > timedelta(minutes=30):
                pages_per_session.append(0)
            pages_per_session[-1] += 1
            last = t
    single = pages_per_session.count(1) / len(pages_per_session)
    assert 0.2 < single < 0.7
    assert max(pages_per_session) >= 10


def test_shop_funnel_decays(shop: list[Message]) -> None:
    events = Counter(m.get("event") for m in shop)
    views, adds = events["Product Viewed"], events["Product Added"]
    checkouts, orders = events["Checkout Started"], events["Order Completed"]
    assert views > 4 * adds > 0
    assert adds > checkouts > orders > 0
    started = {m["properties"]["order_id"] for m in shop if m.get("event") == "Checkout Started"}
    for m in (m for m in shop if m.get("event") == "Order Completed"):
        assert m["properties"]["order_id"] in started
        assert m["properties"]["currency"] == "CNY" and m["properties"]["products"]
        assert m.get("userId")  # checkout needs an account


def test_product_events_follow_the_ecommerce_spec(shop: list[Message]) -> None:
    viewed = [m["properties"] for m in shop if m.get("event") == "Product Viewed"]
    fields = {"product_id", "sku", "category", "name", "price", "currency"}
    assert all(fields <= set(p) and p["currency"] == "CNY" for p in viewed)
    sorts = [m for m in shop if m.get("event") == "Product List Filtered"]
    assert sorts and sorts[0]["properties"]["sorts"] == [{"type": "price", "value": "asc"}]
    assert any(m["context"]["page"]["path"] == "/coupons" for m in shop if m["type"] == "page")


def test_channel_mix_includes_the_chinese_sources(shop: list[Message]) -> None:
    pages = [m for m in shop if m["type"] == "page"]
    hosts = {urlsplit(m["context"]["page"]["referrer"]).hostname for m in pages}
    assert {
        "www.baidu.com",
        "www.so.com",
        "www.sogou.com",
        "mp.weixin.qq.com",
        "weibo.com",
        "www.douyin.com",
        "www.xiaohongshu.com",
        "www.zhihu.com",
        "www.bilibili.com",
        "cn.bing.com",
        "www.google.com",
    } <= hosts
    campaigns = [m["context"]["campaign"] for m in pages if "campaign" in m["context"]]
    assert {("baidu", "cpc"), ("wechat", "social"), ("newsletter", "email"), ("sms", "sms")} <= {
        (c["source"], c["medium"]) for c in campaigns
    }
    assert "双11大促" in {c["name"] for c in campaigns}
    assert any("bd_vid=" in m["context"]["page"]["search"] for m in pages)
    direct = sum(1 for m in pages if m["context"]["page"]["referrer"] == "")
    assert 0.02 < direct / len(pages) < 0.3


def test_devices_include_wechat_and_crawlers(shop: list[Message]) -> None:
    agents = Counter(m["context"]["userAgent"] for m in shop if "userAgent" in m["context"])
    total = sum(agents.values())
    assert sum(n for ua, n in agents.items() if "MicroMessenger" in ua) > 0.1 * total
    crawled = sum(n for ua, n in agents.items() if "Baiduspider" in ua or "Googlebot" in ua)
    assert 0 < crawled < 0.05 * total
    ips = {m["context"]["ip"] for m in shop if "ip" in m["context"]}
    assert any(ip.startswith("1.2.3.") for ip in ips)
    assert any(ip.startswith("81.2.69.") for ip in ips)
    assert Counter(m["context"].get("locale") for m in shop).most_common(1)[0][0] == "zh-CN"


def test_some_people_identify_on_two_devices(shop: list[Message]) -> None:
    devices: dict[str, set[str]] = defaultdict(set)
    for m in shop:
        if m.get("userId") and m.get("anonymousId") and m["type"] != "alias":
            devices[m["userId"]].add(m["anonymousId"])
    two = [user for user, ids in devices.items() if len(ids) >= 2]
    assert len(two) >= 0.02 * len(devices) > 0
    assert 0.05 < len(devices) / 2000 < 0.5  # a share of visitors identify
    aliases = [m for m in shop if m["type"] == "alias"]
    assert aliases and all(m["previousId"] == m["anonymousId"] for m in aliases)


def test_identify_traits_look_real(shop: list[Message], b2b: list[Message]) -> None:
    traits = [m["traits"] for m in shop if m["type"] == "identify" and "phone" in m["traits"]]
    assert traits and all(re.fullmatch(r"\+861[3-9]\d{9}", t["phone"]) for t in traits)
    names = [t["name"] for t in traits]
    assert any(re.search(r"[\u4e00-\u9fff]", n) for n in names)
    assert any(re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", n) for n in names)
    leads = [m["traits"] for m in b2b if m["type"] == "identify" and "company" in m["traits"]]
    keys = {"email", "phone", "name", "city", "company", "industry", "job_title", "company_size"}
    assert leads and all(keys <= set(t) for t in leads)


def test_visitors_return_on_later_days_less_and_less(shop: list[Message]) -> None:
    days: dict[str, set[datetime]] = defaultdict(set)
    for m in shop:
        if m["type"] == "page" and m.get("anonymousId"):
            days[m["anonymousId"]].add(
                parse(m["timestamp"]).replace(hour=0, minute=0, second=0, microsecond=0)
            )
    returning = [d for d in days.values() if len(d) >= 2]
    assert 0.1 < len(returning) / len(days) < 0.6
    gaps = Counter((max(d) - min(d)).days for d in returning)
    assert sum(gaps[g] for g in range(1, 8)) > sum(gaps[g] for g in range(8, 15)) > 0


def test_offline_and_wechat_touchpoints(shop: list[Message], b2b: list[Message]) -> None:
    stores = [m for m in shop if m.get("event") == "Store Visited"]
    assert stores and all(m["properties"]["source"] == "offline" for m in stores)
    assert all(m["context"]["library"]["name"] == "haina-demo-server" for m in stores)
    by_phone = [m for m in stores if "userId" not in m]
    assert by_phone and all(m["context"]["traits"]["phone"].startswith("+86") for m in by_phone)
    wechat = [m for m in shop + b2b if m.get("event", "").startswith("WeChat ")]
    assert {m["event"] for m in wechat} == {"WeChat Article Read", "WeChat Menu Clicked"}
    for m in wechat:
        assert m["userId"]
        assert m["context"]["externalIds"][0]["type"] == "wechat_openid"
    check_ins = {m["properties"]["event_type"] for m in b2b if m.get("event") == "Event Checked In"}
    assert {"webinar", "trade_show"} <= check_ins


def test_b2b_story_has_leads_and_sales_follow_up(b2b: list[Message]) -> None:
    events = Counter(m.get("event") for m in b2b)
    for name in (
        "Whitepaper Downloaded",
        "Webinar Registered",
        "Demo Requested",
        "Trial Started",
        "Sales Call Logged",
    ):
        assert events[name] > 0, name
    paths = Counter(m["context"]["page"]["path"] for m in b2b if m["type"] == "page")
    assert paths["/pricing"] > events["Demo Requested"] > 0
    groups = [m for m in b2b if m["type"] == "group"]
    assert groups and all(m["groupId"].startswith("co_") and m["traits"]["name"] for m in groups)
    assert all(
        m["context"]["page"]["url"].startswith("https://www.example-saas.cn/")
        for m in b2b
        if m["type"] == "page"
    )


@pytest.mark.parametrize(
    ("kind", "users", "days"),
    [
        ("shop", 1000, 30),
        ("shop", 2500, 7),
        ("b2b", 1500, 30),
        ("b2b", 400, 90),
    ],
)
def test_estimate_is_within_a_fifth(kind: Any, users: int, days: int) -> None:
    actual = sum(len(batch) for batch in generate(users, days, seed=3, end=END, kind=kind))
    assert abs(estimate_events(users, days, kind) - actual) <= 0.2 * actual


@pytest.mark.parametrize("kind", ["shop", "b2b"])
def test_shards_together_are_exactly_the_whole_run(kind: str) -> None:
    end = datetime(2026, 11, 1, tzinfo=UTC)
    whole = [m for b in generate(300, 14, end=end, kind=kind) for m in b]  # type: ignore[arg-type]
    parts = [
        m
        for k in range(3)
        for b in generate(
            300,
            14,
            end=end,
            kind=kind,  # type: ignore[arg-type]
            shard=(k, 3),
        )
        for m in b
    ]
    key = lambda m: m["messageId"]  # noqa: E731
    assert sorted(whole, key=key) == sorted(parts, key=key)
    assert len({m["messageId"] for m in whole}) == len(whole)
    with pytest.raises(ValueError, match="shard"):
        generate(10, 1, shard=(3, 3))
