"""The People pages over HTTP (profiles, segments, tag rules, lead scoring) against a live
server seeded with a few people: what each page shows is what the APIs answer, in English and
中文; lookups go to the profile; the builder's live count is the preview API's; the forms
save through the same services (CSRF included) and name the field of bad input.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from haina.config import Settings
from haina.testing import LiveServer, csrf_of, dashboard_login, free_port, live_server
from haina.web.session import LANG_COOKIE

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
MODEL = {
    "fit": [
        {
            "name": "Software company",
            "key": "industry",
            "op": "eq",
            "value": "software",
            "points": 20,
        }
    ],
    "engagement": [
        {"name": "Page views", "event": "$pageview", "points": 2, "count": "every", "cap": 10}
    ],
    "signals": [
        {"name": "Demo requested", "event": "Demo Requested", "points": 30, "min_grade": "A"}
    ],
}
BUYER_RULE = {
    "tag": "buyer",
    "description": "ordered at least once",
    "definition": {"conditions": [{"kind": "event", "event": "Order Completed"}]},
}
PAGEVIEWS = 30  # Li Lei's: more than a page of the timeline (25)


def ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def messages() -> list[dict[str, Any]]:
    """Li Lei (web, e-mail, phone: 30 page views, an order, a demo request), Han Meimei (whose
    web and WeChat profiles one store visit merged) and three shoppers."""
    li = [
        {
            "type": "identify",
            "anonymousId": "web-1",
            "userId": "u-42",
            "timestamp": ago(50),
            "messageId": "li-identify",
            "traits": {
                "email": " Li.Lei@Example.COM ",
                "phone": "138 0013 8000",
                "industry": "software",
                "plan": "pro",
                "city": "上海",
            },
        },
        *[
            {
                "type": "page",
                "anonymousId": "web-1",
                "timestamp": ago(49 - i),
                "messageId": f"li-p{i}",
                "properties": {
                    "path": f"/p/{i}",
                    "title": f"Page {i}",
                    "url": f"https://shop.example.cn/p/{i}?utm_source=baidu&utm_medium=cpc",
                },
            }
            for i in range(PAGEVIEWS)
        ],
        {
            "type": "track",
            "event": "Order Completed",
            "userId": "u-42",
            "timestamp": ago(10),
            "messageId": "li-order",
            "properties": {"revenue": 199.5},
        },
        {
            "type": "track",
            "event": "Demo Requested",
            "userId": "u-42",
            "timestamp": ago(9),
            "messageId": "li-demo",
        },
    ]
    han = [
        {
            "type": "identify",
            "anonymousId": "han-web",
            "userId": "u-77",
            "timestamp": ago(40),
            "messageId": "han-1",
            "traits": {"email": "han@example.cn", "plan": "free"},
        },
        {
            "type": "identify",
            "anonymousId": "han-wx",
            "timestamp": ago(39),
            "messageId": "han-2",
            "traits": {"phone": "13900139000", "wechat_openid": "oHAN_openid_1"},
        },
        {
            "type": "track",
            "event": "Store Visit",
            "userId": "u-77",
            "timestamp": ago(38),
            "messageId": "han-store",
            "context": {"traits": {"phone": "+86 139 0013 9000"}},
        },
    ]
    shoppers = []
    for n in range(3):
        shoppers += [
            {
                "type": "identify",
                "userId": f"s-{n}",
                "timestamp": ago(30),
                "messageId": f"s{n}-i",
                "traits": {"email": f"shopper{n}@example.cn", "plan": "pro" if n else "free"},
            },
            *[
                {
                    "type": "page",
                    "userId": f"s-{n}",
                    "timestamp": ago(29 - i),
                    "messageId": f"s{n}-p{i}",
                    "properties": {"path": "/", "url": "https://shop.example.cn/"},
                }
                for i in range(n + 1)
            ],
        ]
        if n == 2:
            shoppers.append(
                {
                    "type": "track",
                    "event": "Order Completed",
                    "userId": "s-2",
                    "timestamp": ago(5),
                    "messageId": "s2-order",
                    "properties": {"revenue": 20},
                }
            )
    batch = [*li, *han, *shoppers]
    return [{**m, "context": {"userAgent": BROWSER, **m.get("context", {})}} for m in batch]


class Shop:
    def __init__(self, live: LiveServer, ws: dict[str, str]) -> None:
        self.live, self.ws = live, ws

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.ws['api_token']}"}

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        r = httpx.request(method, self.live.url + path, headers=self.auth, timeout=60, **kwargs)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def lookup(self, kind: str, value: str) -> dict[str, Any]:
        found: dict[str, Any] = self.api(
            "GET", "/api/v1/profiles/lookup", params={"type": kind, "value": value}
        )
        return found

    def preview(self, definition: dict[str, Any]) -> int:
        return int(self.api("POST", "/api/v1/segments/preview", json=definition)["count"])


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    data: Path = tmp_path_factory.mktemp("people") / "data"
    settings = Settings(
        data_dir=data,
        port=free_port(),
        write_key_cache_seconds=0,
        trusted_proxies=[],
        people_refresh_seconds=0,
    )
    with live_server(settings) as live:
        ws = live.workspace("shop")
        key = base64.b64encode(f"{ws['write_key']}:".encode()).decode()
        r = httpx.post(
            live.url + "/v1/batch",
            json={"batch": messages()},
            headers={"Authorization": f"Basic {key}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        s = Shop(live, ws)
        s.api("PUT", "/api/v1/scoring/model", json=MODEL)
        s.api("PUT", "/api/v1/tags/rules", json={"rules": [BUYER_RULE]})
        s.api("POST", "/api/v1/scoring/refresh")
        yield s


@pytest.fixture(scope="module")
def client(shop: Shop) -> Iterator[httpx.Client]:
    c = dashboard_login(shop.live.url, shop.ws["api_token"])
    yield c
    c.close()


def get(client: httpx.Client, url: str, lang: str = "en", status: int = 200) -> str:
    client.cookies.set(LANG_COOKIE, lang)
    r = client.get(url)
    assert r.status_code == status, r.text[-3000:]
    return r.text


def text_of(page: str) -> str:
    """The page's text, tags removed and entities decoded (for "is it shown" checks)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def csrf(client: httpx.Client) -> str:
    return csrf_of(get(client, "/dashboard/profiles"))


def test_the_people_pages_come_after_the_reports_in_both_languages(client: httpx.Client) -> None:
    for lang, names in (
        ("en", ["Profiles", "Segments", "Tags", "Lead scoring"]),
        ("zh", ["用户档案", "人群包", "标签", "线索评分"]),
    ):
        page = get(client, "/dashboard/profiles", lang)
        nav = re.findall(r'<li><a href="(/dashboard/[a-z]+)[^"]*"[^>]*>([^<]+)</a></li>', page)
        slugs = [href.rsplit("/", 1)[1] for href, _ in nav]
        people = slugs.index("profiles")
        assert slugs[people : people + 5] == ["profiles", "segments", "tags", "scoring", "setup"]
        assert [name for _, name in nav[people : people + 4]] == names
        assert slugs.index("funnels") < people  # after the reports


def test_a_lookup_by_any_identifier_goes_to_the_profile(shop: Shop, client: httpx.Client) -> None:
    li = shop.lookup("email", "li.lei@example.com")
    for kind, value in (
        ("email", "LI.LEI@example.com"),
        ("phone", "13800138000"),
        ("user_id", "u-42"),
        ("anonymous_id", "web-1"),
    ):
        r = client.get("/dashboard/profiles", params={"type": kind, "value": value})
        assert r.status_code == 303, r.text[-2000:]
        assert r.headers["location"] == f"/dashboard/profiles/{li['person_id']}"
    page = get(client, "/dashboard/profiles?type=email&value=nobody%40example.com")
    assert "Nobody has the identifier email “nobody@example.com”." in text_of(page)
    page = get(client, "/dashboard/profiles?type=email&value=nobody%40example.com", "zh")
    assert "没有人拥有标识 email“nobody@example.com”。" in text_of(page)
    # An invalid value: the service's message, next to the field, in a localised frame.
    page = get(client, "/dashboard/profiles?type=phone&value=12")
    error = re.search(
        r'<p class="field-error error" role="alert" id="lookup-error"[^>]*>(.*?)</p>', page, re.S
    )
    assert error and html.unescape(error[1]).startswith("Not valid (value): ")
    assert 'id="lookup-value" value="12"' in page and 'aria-invalid="true"' in page
    r = httpx.get(
        shop.live.url + "/api/v1/profiles/lookup",
        headers=shop.auth,
        params={"type": "phone", "value": "12"},
    )
    assert r.status_code == 422 and r.json()["message"] in html.unescape(error[1])


def test_a_trait_search_lists_the_people_with_that_trait(shop: Shop, client: httpx.Client) -> None:
    page = get(client, "/dashboard/profiles?trait_key=plan&trait_value=pro")
    definition = {"conditions": [{"kind": "trait", "key": "plan", "op": "eq", "value": "pro"}]}
    total = shop.preview(definition)
    assert total == 3  # Li Lei and two shoppers
    assert f'data-total="{total}"' in page
    listed = re.findall(r'<tr><td><a class="person-link" href="/dashboard/profiles/(p_\w+)"', page)
    assert len(listed) == total
    assert shop.lookup("user_id", "u-42")["person_id"] in listed
    page = get(client, "/dashboard/profiles?trait_key=&trait_value=pro", "zh")
    assert "无效（definition.conditions.0.trait.key）" in text_of(page)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_profile_shows_identities_traits_tags_score_and_timeline(
    shop: Shop, client: httpx.Client, lang: str
) -> None:
    li = shop.lookup("email", "li.lei@example.com")
    page = get(client, f"/dashboard/profiles/{li['person_id']}", lang)
    shown = text_of(page)
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in page
    for heading in (
        ("Identities", "Traits", "Computed traits", "Tags", "Lead score", "Timeline")
        if lang == "en"
        else ("身份标识", "属性", "计算属性", "标签", "线索评分", "时间线")
    ):
        assert f">{heading}</h2>" in page, heading
    for identity in li["identities"]:
        kind, value = identity["type"], identity["value"]
        assert f'<tr data-type="{kind}"><td>{kind}</td><td><code>{value}</code>' in page
    assert '<tr data-trait="city"><td>city</td><td>上海</td></tr>' in page
    assert '<tr data-trait="industry"><td>industry</td><td>software</td></tr>' in page
    # The tag from the rule, with its kind and explanation.
    (buyer,) = [t for t in li["tags"] if t["tag"] == "buyer"]
    assert 'data-tag="buyer" data-kind="rule"' in page
    assert ("Rule" if lang == "en" else "规则") in shown and buyer["explanation"] in shown
    # The score, its grade and every contribution, as the API explains it.
    score = li["score"]
    assert score["grade"] == "A" and score["value"] >= 60
    assert f'<span class="big-number" id="score-value">{score["value"]}</span>' in page
    assert f'<span class="big-number" id="score-grade">{score["grade"]}</span>' in page
    for c in score["contributions"]:
        assert f'<tr data-rule="{c["rule"]}"><td>{c["rule"]}</td>' in page
        assert f'data-value="{c["points"]}"' in page
    assert any(c["rule"] == "Demo requested" for c in score["contributions"])
    assert f'data-stage="{li["lifecycle_stage"]}"' in page and li["lifecycle_stage"] == "customer"
    assert ("Customer" if lang == "en" else "客户") in shown
    # The timeline's first page: the API's 25 newest events, and a "more" row.
    timeline = shop.api("GET", f"/api/v1/profiles/{li['person_id']}/timeline", params={"limit": 25})
    rows = re.findall(r'<tr class="event-row" data-message="([^"]+)"', page)
    assert rows == [e["message_id"] for e in timeline["events"]] and len(rows) == 25
    assert 'class="timeline-more"' in page
    assert ("Show older events" if lang == "en" else "显示更早的事件") in page


def test_the_timeline_pages_with_its_cursor_and_filters(shop: Shop, client: httpx.Client) -> None:
    li = shop.lookup("email", "li.lei@example.com")
    page = get(client, f"/dashboard/profiles/{li['person_id']}")
    more = html.unescape(re.search(r'hx-get="(/dashboard/profiles/timeline\?[^"]+)"', page)[1])
    r = client.get(more, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    first = shop.api("GET", f"/api/v1/profiles/{li['person_id']}/timeline", params={"limit": 25})
    rest = shop.api(
        "GET",
        f"/api/v1/profiles/{li['person_id']}/timeline",
        params={"limit": 25, "before": first["next"]},
    )
    rows = re.findall(r'<tr class="event-row" data-message="([^"]+)"', r.text)
    assert rows == [e["message_id"] for e in rest["events"]] and rest["next"] is None
    assert 'class="timeline-more"' not in r.text  # the last page
    # Filters: by type, as the API filters.
    page = get(client, f"/dashboard/profiles/{li['person_id']}?type=track")
    tracks = shop.api(
        "GET", f"/api/v1/profiles/{li['person_id']}/timeline", params={"type": "track"}
    )
    rows = re.findall(r'<tr class="event-row" data-message="([^"]+)"', page)
    assert rows == [e["message_id"] for e in tracks["events"]]
    assert {"li-demo", "li-order"} <= set(rows) and "li-p0" not in rows
    assert set(
        re.findall(r'<tr class="event-row" data-message="[^"]+" data-type="(\w+)"', page)
    ) == {"track"}
    assert '<option value="track" selected>' in page
    # A bad cursor is a message, never a 500.
    page = get(client, f"/dashboard/profiles/{li['person_id']}?before=nonsense")
    assert "The timeline could not be read" in page
    # Nobody: a 404 in the layout.
    page = get(client, "/dashboard/profiles/p_00000000000000000000", status=404)
    assert "There is no person p_00000000000000000000 in this workspace." in page


def builder_query(definition_rows: list[dict[str, str]], kind: str = "AND", **more: str) -> str:
    pairs = [("type", kind)]
    for i, row in enumerate(definition_rows):
        pairs += [(f"c{i}_{name}", value) for name, value in row.items()]
    return urlencode(pairs + list(more.items()))


CASES = [
    ([], {"type": "AND", "conditions": []}),
    (
        [{"kind": "event", "event": "Order Completed", "count_op": "gte", "count": "1"}],
        {"conditions": [{"kind": "event", "event": "Order Completed"}]},
    ),
    (
        [
            {"kind": "event", "event": "$pageview", "count_op": "gte", "count": "2", "days": "30"},
            {"kind": "trait", "not": "1", "key": "plan", "op": "eq", "value": "free"},
        ],
        {
            "conditions": [
                {
                    "kind": "event",
                    "event": "$pageview",
                    "count": {"op": "gte", "value": 2},
                    "window": {"last_days": 30},
                },
                {
                    "kind": "not",
                    "condition": {"kind": "trait", "key": "plan", "op": "eq", "value": "free"},
                },
            ]
        },
    ),
    (
        [
            {"kind": "tag", "tag": "buyer"},
            {"kind": "score", "field": "grade", "op": "eq", "value": "A"},
        ],
        {
            "type": "OR",
            "conditions": [
                {"kind": "tag", "tag": "buyer"},
                {"kind": "score", "field": "grade", "op": "eq", "value": "A"},
            ],
        },
    ),
    (
        [
            {"kind": "identifier", "type": "phone"},
            {"kind": "first_touch", "field": "source", "op": "eq", "value": "baidu"},
        ],
        {
            "conditions": [
                {"kind": "identifier", "type": "phone"},
                {"kind": "first_touch", "field": "source", "op": "eq", "value": "baidu"},
            ]
        },
    ),
]


@pytest.mark.parametrize(("rows", "definition"), CASES)
def test_the_live_count_is_the_preview_apis(
    shop: Shop, client: httpx.Client, rows: list[dict[str, str]], definition: dict[str, Any]
) -> None:
    kind = definition.get("type", "AND")
    r = client.get(
        f"/dashboard/segments/preview?{builder_query(rows, kind)}", headers={"HX-Request": "true"}
    )
    assert r.status_code == 200 and "<html" not in r.text
    count = re.search(r'id="live-count" data-count="(\d+)"', r.text)
    assert count, r.text
    assert int(count[1]) == shop.preview(definition)
    assert 'id="builder-definition" hx-swap-oob="true"' in r.text
    # The whole page shows the same count.
    page = get(client, f"/dashboard/segments?{builder_query(rows, kind)}")
    assert f'id="live-count" data-count="{count[1]}"' in page


def test_the_builder_takes_json_conditions_and_names_the_field_at_fault(
    shop: Shop, client: httpx.Client
) -> None:
    group = {
        "kind": "group",
        "type": "OR",
        "conditions": [{"kind": "tag", "tag": "buyer"}, {"kind": "identifier", "type": "phone"}],
    }
    nested = json.dumps(group)
    query = builder_query([{"kind": "event", "event": "$pageview", "count": "1"}], extra=nested)
    r = client.get(f"/dashboard/segments/preview?{query}")
    expected = shop.preview({"conditions": [{"kind": "event", "event": "$pageview"}, group]})
    assert f'data-count="{expected}"' in r.text
    bad = builder_query([{"kind": "event", "event": "Order Completed", "count": "-1"}])
    r = client.get(f"/dashboard/segments/preview?{bad}")
    assert "Not valid (definition.conditions.0.event.count.value)" in html.unescape(r.text)
    assert "In condition 1 of the form." in r.text
    r = client.get(f"/dashboard/segments/preview?{builder_query([], extra='[{')}")
    assert "Not valid (extra)" in html.unescape(r.text)
    client.cookies.set(LANG_COOKIE, "zh")
    r = client.get(f"/dashboard/segments/preview?{bad}")
    assert "无效（definition.conditions.0.event.count.value）" in r.text


def test_adding_and_removing_a_condition_goes_back_to_a_clean_url(client: httpx.Client) -> None:
    query = builder_query(
        [{"kind": "trait", "key": "plan", "op": "eq", "value": "pro"}],
        name="Pro",
        add_kind="event",
        add="1",
    )
    r = client.get(f"/dashboard/segments?{query}")
    assert r.status_code == 303
    location = r.headers["location"]
    assert "c1_kind=event" in location and "c0_key=plan" in location and "name=Pro" in location
    assert "add=" not in location
    r = client.get(
        f"/dashboard/segments?{builder_query([{'kind': 'trait', 'key': 'x'}], remove='0')}"
    )
    assert r.status_code == 303 and "c0_" not in r.headers["location"]


def test_saving_a_segment_from_the_form_creates_it(shop: Shop, client: httpx.Client) -> None:
    form = {
        "type": "AND",
        "c0_kind": "event",
        "c0_event": "$pageview",
        "c0_count_op": "gte",
        "c0_count": "2",
        "name": "Browsers",
        "kind": "static",
        "description": "2+ views",
    }
    assert client.post("/dashboard/segments", data=form).status_code == 403  # no CSRF token
    r = client.post("/dashboard/segments", data={**form, "csrf": csrf(client)})
    assert r.status_code == 303, r.text[-2000:]
    seg_id = r.headers["location"].split("saved=")[1].split("#")[0]
    saved = shop.api("GET", f"/api/v1/segments/{seg_id}")
    expected = shop.preview(
        {
            "conditions": [
                {"kind": "event", "event": "$pageview", "count": {"op": "gte", "value": 2}}
            ]
        }
    )
    assert saved["name"] == "Browsers" and saved["kind"] == "static"
    assert saved["count"] == expected == 3  # Li Lei and two shoppers
    page = get(client, r.headers["location"])
    assert f'<tr data-segment="{seg_id}" data-name="Browsers">' in page
    assert "Segment “Browsers” saved: 3 people now." in page
    # The same name again: the service's conflict, next to the form, the form kept.
    again = client.post("/dashboard/segments", data={**form, "csrf": csrf(client)})
    assert again.status_code == 409
    assert "Not valid (name): a segment named &#39;Browsers&#39; exists" in again.text
    assert 'name="c0_event" value="$pageview"' in again.text
    # An invalid definition is not saved.
    bad = {**form, "name": "Bad", "c0_count": "-3", "csrf": csrf(client)}
    r = client.post("/dashboard/segments", data=bad)
    assert r.status_code == 422 and "definition.conditions.0.event.count.value" in r.text
    assert all(s["name"] != "Bad" for s in shop.api("GET", "/api/v1/segments")["segments"])


def test_the_segment_csv_is_the_apis_export(shop: Shop, client: httpx.Client) -> None:
    created = shop.api(
        "POST",
        "/api/v1/segments",
        json={"name": "Buyers", "definition": {"conditions": [{"kind": "tag", "tag": "buyer"}]}},
    )
    page = get(client, "/dashboard/segments")
    assert f'href="/dashboard/segments/{created["id"]}/export"' in page
    mine = client.get(f"/dashboard/segments/{created['id']}/export?traits=email")
    theirs = httpx.get(
        shop.live.url + f"/api/v1/segments/{created['id']}/export",
        params={"traits": "email"},
        headers=shop.auth,
    )
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/csv")
    assert mine.text == theirs.text
    rows = list(csv.reader(io.StringIO(mine.text)))
    assert rows[0] == ["person_id", "since", "email"] and len(rows) == 3
    assert client.get("/dashboard/segments/seg_nope/export").status_code == 404
    with httpx.Client(base_url=shop.live.url) as anonymous:
        r = anonymous.get(f"/dashboard/segments/{created['id']}/export")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_tags_and_scoring_pages_show_counts_rules_and_the_model(
    shop: Shop, client: httpx.Client, lang: str
) -> None:
    page = get(client, "/dashboard/tags", lang)
    counts = shop.api("GET", "/api/v1/tags")["tags"]
    for c in counts:
        assert f'<tr data-tag="{c["tag"]}" data-kind="{c["kind"]}">' in page
    (buyer,) = [c for c in counts if c["tag"] == "buyer"]
    assert buyer["people"] == 2
    assert '<tr data-rule="buyer">' in page
    assert ("Tag rules" if lang == "en" else "标签规则") in page
    page = get(client, "/dashboard/scoring", lang)
    assert '<tr data-rule="Demo requested">' in page and '<tr data-rule="Page views">' in page
    assert ("Opportunity signals" if lang == "en" else "商机信号") in page
    assert "&#34;Software company&#34;" in page or '"Software company"' in page  # the JSON editor


def test_tag_rules_are_added_edited_and_removed_and_bad_input_is_named(
    shop: Shop, client: httpx.Client
) -> None:
    form = {
        "original": "",
        "rule_tag": "phone known",
        "rule_description": "has a phone",
        "type": "AND",
        "c0_kind": "identifier",
        "c0_type": "phone",
    }
    r = client.post("/dashboard/tags", data={**form, "csrf": csrf(client)})
    assert r.status_code == 303, r.text[-2000:]
    rules = shop.api("GET", "/api/v1/tags/rules")["rules"]
    assert [r["tag"] for r in rules] == ["buyer", "phone known"]
    assert rules[1]["definition"]["conditions"] == [
        {"kind": "identifier", "type": "phone", "present": True}
    ]
    # The edit link loads the rule into the form.
    page = get(client, "/dashboard/tags?edit=phone+known")
    assert 'name="original" value="phone known"' in page
    assert 'name="c0_kind" value="identifier"' in page
    # Bad input: the setting's field, next to the form, nothing saved.
    r = client.post(
        "/dashboard/tags",
        data={**form, "original": "phone known", "rule_tag": "", "csrf": csrf(client)},
    )
    assert r.status_code == 422
    assert "Not valid (tag_rules.1.tag)" in html.unescape(r.text)
    r = client.post(
        "/dashboard/tags",
        data={
            **form,
            "original": "phone known",
            "extra": '{"kind": "event"}',
            "csrf": csrf(client),
        },
    )
    assert r.status_code == 422 and "tag_rules.1.definition.conditions.1.event.event" in r.text
    assert [r["tag"] for r in shop.api("GET", "/api/v1/tags/rules")["rules"]] == [
        "buyer",
        "phone known",
    ]
    # Rename by editing, then remove.
    r = client.post(
        "/dashboard/tags",
        data={**form, "original": "phone known", "rule_tag": "has phone", "csrf": csrf(client)},
    )
    assert r.status_code == 303
    assert [r["tag"] for r in shop.api("GET", "/api/v1/tags/rules")["rules"]] == [
        "buyer",
        "has phone",
    ]
    r = client.post("/dashboard/tags", data={"remove_rule": "has phone", "csrf": csrf(client)})
    assert r.status_code == 303 and "removed=has%20phone" in r.headers["location"]
    assert [r["tag"] for r in shop.api("GET", "/api/v1/tags/rules")["rules"]] == ["buyer"]


def test_the_scoring_model_saves_names_bad_fields_and_recomputes(
    shop: Shop, client: httpx.Client
) -> None:
    model = shop.api("GET", "/api/v1/scoring/model")
    bad = json.loads(json.dumps(model))
    bad["engagement"][0]["points"] = -1
    r = client.post(
        "/dashboard/scoring",
        data={"action": "save", "model": json.dumps(bad), "csrf": csrf(client)},
    )
    assert r.status_code == 422
    assert "Not valid (engagement.0.points)" in html.unescape(r.text)
    assert shop.api("GET", "/api/v1/scoring/model") == model  # nothing saved
    r = client.post(
        "/dashboard/scoring", data={"action": "save", "model": "{oops", "csrf": csrf(client)}
    )
    assert r.status_code == 422 and "Not valid (model)" in r.text and "{oops</textarea>" in r.text
    better = {**model, "signals": [{**model["signals"][0], "points": 40}]}
    r = client.post(
        "/dashboard/scoring",
        data={"action": "save", "model": json.dumps(better), "csrf": csrf(client)},
    )
    assert r.status_code == 303
    assert shop.api("GET", "/api/v1/scoring/model")["signals"][0]["points"] == 40
    r = client.post("/dashboard/scoring", data={"action": "refresh", "csrf": csrf(client)})
    assert r.status_code == 303 and "refreshed=1" in r.headers["location"]
    page = get(client, r.headers["location"])
    changed = re.search(r'id="refreshed" data-tags="(\d+)" data-scores="(\d+)"', page)
    assert changed and int(changed[2]) >= 1  # Li Lei's demo request now gives 40
    li = shop.lookup("email", "li.lei@example.com")
    assert any(
        c["rule"] == "Demo requested" and c["points"] == 40 for c in li["score"]["contributions"]
    )


def test_the_split_button_splits_a_merge(shop: Shop, client: httpx.Client) -> None:
    han = shop.lookup("user_id", "u-77")
    (merge,) = han["merges"]
    page = get(client, f"/dashboard/profiles/{han['person_id']}")
    assert f'<tr data-merge="{merge["merge_id"]}">' in page
    url = f"/dashboard/profiles/{han['person_id']}"
    refused = client.post(url, data={"merge_id": merge["merge_id"]})
    assert refused.status_code == 403
    r = client.post(
        url, data={"merge_id": merge["merge_id"], "reason": "shared phone", "csrf": csrf_of(page)}
    )
    assert r.status_code == 303, r.text[-2000:]
    web, wechat = shop.lookup("user_id", "u-77"), shop.lookup("wechat_openid", "oHAN_openid_1")
    assert web["person_id"] != wechat["person_id"]
    page = get(client, r.headers["location"])
    assert f"Merge {merge['merge_id']} is split." in page
    assert f'href="/dashboard/profiles/{wechat["person_id"]}"' in page
    r = client.post(url, data={"merge_id": "m_nope", "csrf": csrf_of(page)})
    assert r.status_code == 404 and "The merge could not be split" in r.text


def test_the_funnels_people_link_to_their_profiles(shop: Shop, client: httpx.Client) -> None:
    today = datetime.now(UTC).date()
    query = urlencode(
        [
            ("from", (today - timedelta(days=7)).isoformat()),
            ("to", (today + timedelta(days=1)).isoformat()),
            ("step", "$pageview"),
            ("step_path", ""),
            ("step", "Order Completed"),
            ("step_path", ""),
            ("people_step", "2"),
            ("converted", "1"),
        ]
    )
    r = client.get(f"/dashboard/funnels/people?{query}", headers={"HX-Request": "true"})
    assert r.status_code == 200
    li = shop.lookup("user_id", "u-42")
    assert f'<a href="/dashboard/profiles/{li["person_id"]}"><code>' in r.text
