from pathlib import Path
from typing import NamedTuple

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from haina.pipeline.channel import (
    Acquisition,
    ChannelRulesError,
    acquisition_for,
    default_rules,
    load_rules,
)

quick = settings(database=None)
PAGE = "https://shop.example.com/products/42"
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "channels.md"
RULES_FILE = ROOT / "haina" / "pipeline" / "channel_rules.yaml"

GA4_ORDER = [
    "Direct",
    "Cross-network",
    "Paid Shopping",
    "Paid Search",
    "Paid Social",
    "Paid Video",
    "Display",
    "Paid Other",
    "Organic Shopping",
    "Organic Social",
    "Organic Video",
    "AI Assistants",
    "Organic Search",
    "Referral",
    "Email",
    "Affiliates",
    "Audio",
    "SMS",
    "Mobile Push Notifications",
]


class Case(NamedTuple):
    query: str  # appended to PAGE after "?"
    referrer: str | None
    channel: str
    source: str
    medium: str


def utm(query: str, channel: str, source: str, medium: str) -> Case:
    return Case(query, None, channel, source, medium)


def ref(referrer: str, channel: str, source: str, medium: str = "referral") -> Case:
    return Case("", referrer, channel, source, medium)


CASES = [
    # 1 Direct
    Case("", None, "Direct", "(direct)", "(none)"),
    Case("utm_campaign=spring", None, "Direct", "(direct)", "(none)"),
    # 2 Cross-network (before every paid rule)
    utm("utm_campaign=Summer-Cross-Network&utm_source=google&utm_medium=cpc", "Cross-network",
        "google", "cpc"),
    # 3 Paid Shopping: shopping source, or a shop campaign, with a paid medium
    utm("utm_source=taobao&utm_medium=cpc", "Paid Shopping", "taobao", "cpc"),
    utm("utm_source=jd&utm_medium=ppc", "Paid Shopping", "jd", "ppc"),
    utm("utm_source=partner&utm_medium=paid&utm_campaign=618_shopping", "Paid Shopping",
        "partner", "paid"),
    utm("utm_source=baidu&utm_medium=cpc&utm_campaign=shop-now", "Paid Shopping", "baidu", "cpc"),
    # 4 Paid Search
    utm("utm_source=baidu&utm_medium=cpc", "Paid Search", "baidu", "cpc"),
    utm("utm_source=Sogou&utm_medium=CPC", "Paid Search", "sogou", "cpc"),
    utm("utm_source=360&utm_medium=retargeting", "Paid Search", "360", "retargeting"),
    utm("utm_source=google&utm_medium=paid_search", "Paid Search", "google", "paid_search"),
    utm("gclid=Cj0KCQ", "Paid Search", "google", "cpc"),
    utm("gbraid=0AAAA", "Paid Search", "google", "cpc"),
    utm("wbraid=CjkK", "Paid Search", "google", "cpc"),
    utm("msclkid=abc", "Paid Search", "bing", "cpc"),
    utm("bd_vid=1234567", "Paid Search", "baidu", "cpc"),
    utm("qhclickid=abc", "Paid Search", "360", "cpc"),
    utm("utm_source=baidu&bd_vid=1", "Paid Search", "baidu", "cpc"),
    # 5 Paid Social
    utm("utm_source=wechat&utm_medium=cpc", "Paid Social", "wechat", "cpc"),
    utm("utm_source=weixin&utm_medium=cpm", "Paid Social", "wechat", "cpm"),
    utm("utm_source=douyin&utm_medium=cpc", "Paid Social", "douyin", "cpc"),  # social before video
    utm("utm_source=xhs&utm_medium=paid_social", "Paid Social", "xiaohongshu", "paid_social"),
    utm("ttclid=E.C.P", "Paid Social", "tiktok", "cpc"),
    utm("qz_gdt=abc", "Paid Social", "tencent", "cpc"),
    utm("gdt_vid=abc", "Paid Social", "tencent", "cpc"),
    utm("fbclid=IwAR&utm_medium=paid", "Paid Social", "facebook", "paid"),
    # 6 Paid Video
    utm("utm_source=youku&utm_medium=cpv", "Paid Video", "youku", "cpv"),
    utm("utm_source=iqiyi&utm_medium=cpc", "Paid Video", "iqiyi", "cpc"),
    utm("utm_source=youtube&utm_medium=paid_video", "Paid Video", "youtube", "paid_video"),
    # 7 Display
    utm("utm_source=adnetwork&utm_medium=display", "Display", "adnetwork", "display"),
    utm("utm_source=adnetwork&utm_medium=banner", "Display", "adnetwork", "banner"),
    utm("utm_source=adnetwork&utm_medium=cpm", "Display", "adnetwork", "cpm"),
    # 8 Paid Other
    utm("utm_source=partner&utm_medium=cpc", "Paid Other", "partner", "cpc"),
    # 9 Organic Shopping
    ref("https://item.jd.com/100012043978.html", "Organic Shopping", "jd"),
    ref("https://item.taobao.com/item.htm?id=1", "Organic Shopping", "taobao"),
    ref("https://detail.tmall.com/item.htm?id=1", "Organic Shopping", "tmall"),
    ref("https://mobile.yangkeduo.com/goods.html", "Organic Shopping", "pinduoduo"),
    ref("https://www.amazon.co.jp/dp/B0", "Organic Shopping", "amazon"),
    utm("utm_source=partner&utm_campaign=shop", "Organic Shopping", "partner", "(not set)"),
    # 10 Organic Social
    utm("utm_source=weixin&utm_medium=social", "Organic Social", "wechat", "social"),
    utm("utm_source=WeChat", "Organic Social", "wechat", "(not set)"),
    utm("utm_source=forum&utm_medium=social-network", "Organic Social", "forum",
        "social-network"),
    ref("https://mp.weixin.qq.com/s/abc", "Organic Social", "wechat"),
    ref("https://weixin.qq.com/", "Organic Social", "wechat"),
    ref("https://wx.qq.com/", "Organic Social", "wechat"),
    ref("android-app://com.tencent.mm/", "Organic Social", "wechat"),
    ref("https://weibo.com/u/1", "Organic Social", "weibo"),
    ref("https://m.weibo.cn/status/1", "Organic Social", "weibo"),
    ref("https://www.douyin.com/video/1", "Organic Social", "douyin"),
    ref("https://www.xiaohongshu.com/explore/1", "Organic Social", "xiaohongshu"),
    ref("http://xhslink.com/a/b", "Organic Social", "xiaohongshu"),
    ref("https://www.zhihu.com/question/1", "Organic Social", "zhihu"),
    ref("https://zhuanlan.zhihu.com/p/1", "Organic Social", "zhihu"),
    ref("https://www.bilibili.com/video/BV1", "Organic Social", "bilibili"),
    ref("https://b23.tv/abc", "Organic Social", "bilibili"),
    ref("https://www.kuaishou.com/short-video/1", "Organic Social", "kuaishou"),
    ref("https://www.toutiao.com/article/1/", "Organic Social", "toutiao"),
    ref("https://qzone.qq.com/", "Organic Social", "qzone"),
    ref("https://im.qq.com/", "Organic Social", "qq"),
    ref("https://www.douban.com/group/topic/1/", "Organic Social", "douban"),
    ref("https://tieba.baidu.com/p/1", "Organic Social", "tieba"),
    ref("https://l.facebook.com/l.php?u=x", "Organic Social", "facebook"),
    ref("https://t.co/abc", "Organic Social", "twitter"),
    ref("https://www.linkedin.com/feed/", "Organic Social", "linkedin"),
    utm("fbclid=IwAR", "Organic Social", "facebook", "social"),  # fbclid alone is not paid
    # 11 Organic Video
    ref("https://www.youtube.com/watch?v=1", "Organic Video", "youtube"),
    ref("https://v.youku.com/v_show/id_1.html", "Organic Video", "youku"),
    ref("https://www.iqiyi.com/v_1.html", "Organic Video", "iqiyi"),
    ref("https://v.qq.com/x/cover/1.html", "Organic Video", "tencent video"),
    ref("https://www.ixigua.com/1", "Organic Video", "ixigua"),
    utm("utm_source=vendor&utm_medium=video", "Organic Video", "vendor", "video"),
    # AI Assistants (after Organic Video, before Organic Search)
    ref("https://chatgpt.com/", "AI Assistants", "chatgpt"),
    ref("https://chat.openai.com/c/1", "AI Assistants", "chatgpt"),
    ref("https://www.perplexity.ai/search/1", "AI Assistants", "perplexity"),
    ref("https://claude.ai/chat/1", "AI Assistants", "claude"),
    ref("https://gemini.google.com/app", "AI Assistants", "gemini"),
    ref("https://copilot.microsoft.com/", "AI Assistants", "copilot"),
    ref("https://chat.deepseek.com/", "AI Assistants", "deepseek"),
    ref("https://kimi.moonshot.cn/chat/1", "AI Assistants", "kimi"),
    ref("https://www.doubao.com/chat/1", "AI Assistants", "doubao"),
    ref("https://yiyan.baidu.com/", "AI Assistants", "yiyan"),
    ref("https://tongyi.aliyun.com/qianwen/", "AI Assistants", "tongyi"),
    utm("utm_source=chatgpt.com", "AI Assistants", "chatgpt", "(not set)"),
    # 12 Organic Search
    ref("https://www.baidu.com/link?url=abc", "Organic Search", "baidu", "organic"),
    ref("https://m.baidu.com/from=1/s?word=x", "Organic Search", "baidu", "organic"),
    ref("https://www.sogou.com/web?query=x", "Organic Search", "sogou", "organic"),
    ref("https://www.so.com/s?q=x", "Organic Search", "360", "organic"),
    ref("https://m.sm.cn/s?q=x", "Organic Search", "shenma", "organic"),
    ref("https://cn.bing.com/search?q=x", "Organic Search", "bing", "organic"),
    ref("https://www.google.com/", "Organic Search", "google", "organic"),
    ref("https://www.google.com.hk/", "Organic Search", "google", "organic"),
    ref("https://www.google.co.uk/", "Organic Search", "google", "organic"),
    ref("https://yandex.ru/search/?text=x", "Organic Search", "yandex", "organic"),
    ref("https://duckduckgo.com/", "Organic Search", "duckduckgo", "organic"),
    ref("https://search.naver.com/search.naver?query=x", "Organic Search", "naver", "organic"),
    ref("https://www.ecosia.org/search?q=x", "Organic Search", "ecosia", "organic"),
    utm("utm_source=m.baidu.com", "Organic Search", "baidu", "(not set)"),
    utm("utm_source=so.com", "Organic Search", "360", "(not set)"),
    utm("utm_source=weekly-digest&utm_medium=organic", "Organic Search", "weekly-digest",
        "organic"),
    # 13 Referral: a plain referrer yields medium "referral"
    ref("https://someblog.example.net/post/1", "Referral", "someblog.example.net"),
    ref("https://www.partner.example/", "Referral", "partner.example"),
    ref("https://mail.qq.com/cgi-bin/frame_html", "Referral", "qqmail"),
    utm("utm_source=newsletter&utm_medium=referral", "Referral", "newsletter", "referral"),
    utm("utm_source=partner&utm_medium=app", "Referral", "partner", "app"),
    # 14 Email
    utm("utm_source=newsletter&utm_medium=email", "Email", "newsletter", "email"),
    utm("utm_source=crm&utm_medium=E-Mail", "Email", "crm", "e-mail"),
    utm("utm_source=crm&utm_medium=edm", "Email", "crm", "edm"),
    utm("utm_source=newsletter", "Email", "newsletter", "(not set)"),
    utm("utm_medium=email", "Email", "(not set)", "email"),
    # 15 Affiliates
    utm("utm_source=cps-network&utm_medium=affiliate", "Affiliates", "cps-network", "affiliate"),
    # 16 Audio
    utm("utm_source=podcast&utm_medium=audio", "Audio", "podcast", "audio"),
    # 17 SMS
    utm("utm_medium=sms", "SMS", "(not set)", "sms"),
    utm("utm_source=sms&utm_medium=text", "SMS", "sms", "text"),
    # 18 Mobile Push Notifications
    utm("utm_source=app&utm_medium=web-push", "Mobile Push Notifications", "app", "web-push"),
    utm("utm_source=app&utm_medium=mobile", "Mobile Push Notifications", "app", "mobile"),
    utm("utm_source=app&utm_medium=notification", "Mobile Push Notifications", "app",
        "notification"),
    utm("utm_source=firebase", "Mobile Push Notifications", "firebase", "(not set)"),
    # fallback
    utm("utm_source=foo&utm_medium=bar", "Unassigned", "foo", "bar"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.channel}:{c.query or c.referrer}")
def test_channel_rules(case: Case) -> None:
    page = f"{PAGE}?{case.query}" if case.query else PAGE
    acquisition = acquisition_for(page, case.referrer)
    assert (acquisition.channel, acquisition.source, acquisition.medium) == (
        case.channel,
        case.source,
        case.medium,
    )


def test_every_rule_has_a_case() -> None:
    assert {c.channel for c in CASES} == set(GA4_ORDER) | {"Unassigned"}


def test_rules_run_in_the_adopted_ga4_order() -> None:
    assert [channel for channel, _ in default_rules().rules] == GA4_ORDER


def test_full_acquisition_record() -> None:
    page = (
        "https://shop.example.com/p?utm_source=baidu&utm_medium=cpc&utm_campaign=Spring%20Sale"
        "&utm_term=%E8%BF%90%E5%8A%A8%E9%9E%8B&utm_content=banner-a&utm_id=42&bd_vid=987"
    )
    assert acquisition_for(page, "https://www.baidu.com/baidu.php?url=x") == Acquisition(
        channel="Paid Search",
        source="baidu",
        medium="cpc",
        campaign="Spring Sale",  # campaign, term and content keep their case
        term="运动鞋",
        content="banner-a",
        referrer_host="www.baidu.com",
        click_id="bd_vid",
    )


@pytest.mark.parametrize(
    ("page", "referrer", "own_hosts"),
    [
        (PAGE, "https://shop.example.com/cart", ()),
        ("https://www.example.com/a", "https://example.com/b", ()),
        ("https://www.example.com/a", "https://blog.example.com/b", ()),
        (PAGE, "https://checkout.example.net/pay", ("example.net",)),
        (PAGE, "https://example.net/pay", ("www.example.net",)),
        ("http://localhost:8000/a", "http://localhost:8000/b", ()),
    ],
)
def test_internal_referrers_are_direct(
    page: str, referrer: str, own_hosts: tuple[str, ...]
) -> None:
    assert acquisition_for(page, referrer, own_hosts=own_hosts) == Acquisition(
        "Direct", "(direct)", "(none)", None, None, None, None, None
    )


def test_subdomain_of_a_different_site_is_not_internal() -> None:
    acquisition = acquisition_for(PAGE, "https://notexample.com/")
    assert (acquisition.channel, acquisition.referrer_host) == ("Referral", "notexample.com")


def test_utm_and_click_ids_win_over_an_internal_referrer() -> None:
    same_site = "https://shop.example.com/landing"
    tagged = acquisition_for(PAGE + "?utm_source=weibo&utm_medium=cpc", same_site)
    assert (tagged.channel, tagged.source, tagged.referrer_host) == ("Paid Social", "weibo", None)
    clicked = acquisition_for(PAGE + "?gclid=x", same_site)
    assert (clicked.channel, clicked.source, clicked.click_id) == ("Paid Search", "google", "gclid")


def test_segment_campaign_context_takes_precedence_over_the_url() -> None:
    campaign = {"name": "Double 11", "source": "WeChat", "medium": "CPC", "term": "", "content": 7}
    acquisition = acquisition_for(PAGE + "?utm_source=baidu&utm_term=shoes", None, campaign)
    assert acquisition == Acquisition(
        "Paid Social", "wechat", "cpc", "Double 11", "shoes", "7", None, None
    )


def test_campaign_context_accepts_utm_names() -> None:
    acquisition = acquisition_for(PAGE, None, {"utm_source": "douban", "source": "  "})
    assert (acquisition.channel, acquisition.source) == ("Organic Social", "douban")


@pytest.mark.parametrize(
    ("raw", "source"),
    [
        ("WeChat", "wechat"),
        ("weixin", "wechat"),
        ("微信", "wechat"),
        ("m.baidu.com", "baidu"),
        ("https://www.baidu.com/s?wd=x", "baidu"),
        ("so.com", "360"),
        ("sm.cn", "shenma"),
        ("小红书", "xiaohongshu"),
        ("  Partner Site ", "partner site"),
        ("partner.example.com", "partner.example.com"),
    ],
)
def test_source_normalisation(raw: str, source: str) -> None:
    assert default_rules().normalise_source(raw) == source


def test_every_listed_host_names_its_own_source() -> None:
    rules = default_rules()
    # A host listed twice, or shadowed by a broken suffix rule, resolves to another source.
    document = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    for name, spec in document["sources"].items():
        for host in spec["hosts"]:
            found = rules.classify_host(host.replace("*", "com"))
            assert found is not None and found.name == str(name), host


def test_channel_names_are_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for channel in GA4_ORDER:
        assert f"| {channel} |" in text, channel


def test_custom_rules_are_evaluated_first(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        """
rules:
  - channel: Partners
    when: {field: referrer_host, in: [partner.example.org]}
  - channel: Baidu Brand Zone
    when:
      all:
        - {field: source, equals: baidu}
        - {field: campaign, starts_with: brandzone}
sources:
  xyz search:
    categories: [search]
    hosts: [search.xyz.example]
click_ids:
  xyzclid: {source: xyz search, medium: cpc}
""",
        encoding="utf-8",
    )
    rules = load_rules(path)
    assert acquisition_for(PAGE, "https://partner.example.org/x", rules=rules).channel == "Partners"
    brand = acquisition_for(
        PAGE + "?utm_source=baidu&utm_medium=cpc&utm_campaign=BrandZone-2025", None, rules=rules
    )
    assert brand.channel == "Baidu Brand Zone"
    search = acquisition_for(PAGE, "https://search.xyz.example/?q=1", rules=rules)
    expected = ("Organic Search", "xyz search", "organic")
    assert (search.channel, search.source, search.medium) == expected
    assert acquisition_for(PAGE + "?xyzclid=1", None, rules=rules).channel == "Paid Search"
    # the built-in rules are untouched
    assert acquisition_for(PAGE, "https://partner.example.org/x").channel == "Referral"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [", "not valid YAML"),
        ("rulez: []", "unknown keys"),
        ("rules: {}", "expected a list"),
        ("rules: [{channel: X}]", "needs a channel name"),
        ("rules: [{channel: X, when: {field: colour, equals: red}}]", "expected all/any/not"),
        ("rules: [{channel: X, when: {field: medium, like: red}}]", "expected all/any/not"),
        ("rules: [{channel: X, when: {field: medium, matches: '('}}]", "bad regular expression"),
        ("rules: [{channel: X, when: {field: medium, category: search}}]", "category applies"),
        ("sources: {x: {categories: [music]}}", "unknown category"),
        ("click_ids: {xclid: {source: x}}", "needs source and medium"),
    ],
)
def test_malformed_custom_rules_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ChannelRulesError, match=message):
        load_rules(path)


def test_missing_custom_rules_file(tmp_path: Path) -> None:
    with pytest.raises(ChannelRulesError, match="cannot read channel rules"):
        load_rules(tmp_path / "nope.yaml")


def test_not_condition(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "rules: [{channel: Not Direct, when: {not: {field: source, equals: '(direct)'}}}]"
    )
    rules = load_rules(path)
    assert acquisition_for(PAGE, "https://a.example/", rules=rules).channel == "Not Direct"
    assert acquisition_for(PAGE, None, rules=rules).channel == "Direct"


hosts = st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,3}\.(com|cn|net|org)", fullmatch=True)
url_text = st.text(max_size=120) | st.builds(
    lambda scheme, host, rest: f"{scheme}{host}{rest}",
    st.sampled_from(["https://", "http://", "//", "android-app://", " HTTPS://", ""]),
    hosts | st.text(max_size=20),
    st.text(max_size=60),
)
campaigns = st.none() | st.dictionaries(
    st.sampled_from(["name", "source", "medium", "term", "content", "utm_source", "x"]),
    st.none() | st.text(max_size=30) | st.integers() | st.booleans() | st.lists(st.integers()),
)
KNOWN_CHANNELS = set(GA4_ORDER) | {"Unassigned"}


@quick
@given(url_text, st.none() | url_text, campaigns, st.lists(st.text(max_size=20), max_size=3))
def test_never_raises_on_any_input(
    page: str, referrer: str | None, campaign: dict[str, object] | None, own: list[str]
) -> None:
    acquisition = acquisition_for(page, referrer, campaign, own)
    assert acquisition.channel in KNOWN_CHANNELS
    assert acquisition.source == acquisition.source.lower() and acquisition.source
    assert acquisition.medium == acquisition.medium.lower() and acquisition.medium
    host = acquisition.referrer_host
    assert host is None or (host == host.lower() and "/" not in host)


@quick
@given(hosts, st.text(max_size=30), st.text(max_size=30))
def test_same_host_is_always_direct(host: str, path_a: str, path_b: str) -> None:
    page = f"https://{host}/{path_a.replace('?', '')}"
    assert acquisition_for(page, f"https://{host}/{path_b}").channel == "Direct"


@quick
@given(st.sampled_from(CASES))
def test_matching_ignores_case(case: Case) -> None:
    page = f"{PAGE}?{_upper_values(case.query)}" if case.query else PAGE
    referrer = case.referrer.upper() if case.referrer else None
    assert acquisition_for(page, referrer).channel == case.channel


def _upper_values(query: str) -> str:
    return "&".join(
        f"{key}={value.upper()}" for key, _, value in (p.partition("=") for p in query.split("&"))
    )


@quick
@given(st.text(max_size=40))
def test_source_normalisation_is_idempotent(raw: str) -> None:
    rules = default_rules()
    once = rules.normalise_source(raw)
    assert rules.normalise_source(once) == once
