import re

import pytest
import ua_parser
from hypothesis import given, settings
from hypothesis import strategies as st

from haina.pipeline import useragent
from haina.pipeline.useragent import (
    BOT_MARKERS,
    DEVICE_TYPES,
    FAST_RESOLVER,
    UNKNOWN_DEVICE,
    Device,
    parse_user_agent,
)

quick = settings(database=None, deadline=None)

IOS = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"  # noqa: E501
ANDROID_WV = "Mozilla/5.0 (Linux; Android 12; V2171A Build/SP1A.210812.003; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/90.0.4430.91 Mobile Safari/537.36"  # noqa: E501

# (user agent, browser, browser_version, os, device_type)
BROWSERS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome", "120.0.0.0", "Windows", "desktop"),  # noqa: E501
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", "Safari", "17.1", "Mac OS X", "desktop"),  # noqa: E501
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox", "121.0", "Ubuntu", "desktop"),  # noqa: E501
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome", "120.0.0.0", "Chrome OS", "desktop"),  # noqa: E501
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36", "Chrome Mobile", "120.0.6099.144", "Android", "mobile"),  # noqa: E501
    ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", "Mobile Safari", "16.6", "iOS", "tablet"),  # noqa: E501
    ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome", "120.0.0.0", "Android", "tablet"),  # noqa: E501
    ("Mozilla/5.0 (Android 13; Tablet; rv:120.0) Gecko/120.0 Firefox/120.0", "Firefox Mobile", "120.0", "Android", "tablet"),  # noqa: E501
    ("Mozilla/5.0 (Android 13; Mobile; rv:120.0) Gecko/120.0 Firefox/120.0", "Firefox Mobile", "120.0", "Android", "mobile"),  # noqa: E501
    ("Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/118.2.3 like Chrome/118.0.5993.112 Safari/537.36", "Amazon Silk", "118.2.3", "Android", "tablet"),  # noqa: E501
    ("Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV Safari/537.36", "Safari", None, "Tizen", "tv"),  # noqa: E501
    ("Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0.4896.127 Mobile Safari/537.36", "Chrome Mobile WebView", "100.0.4896.127", "Android", "tv"),  # noqa: E501
    ("Mozilla/5.0 (Linux; Android 10; BRAVIA 4K UR2 Build/QTG3.200305.006.S292) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36", "Chrome", "108.0.0.0", "Android", "tv"),  # noqa: E501
    ("Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 Safari/605.1.15", "Safari", "13.0", None, "console"),  # noqa: E501
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edge/44.18363.8131", "Edge", "44.18363.8131", "Windows", "console"),  # noqa: E501
    ("Mozilla/5.0 (Linux; Android 11; SM-R890 Build/RWD1.210126.002; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/105.0.5195.136 Mobile Safari/537.36", "Chrome Mobile WebView", "105.0.5195.136", "Android", "wearable"),  # noqa: E501
    ("Mozilla/5.0 (Phone; OpenHarmony 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 ArkWeb/4.1.6.1 Mobile HuaweiBrowser/5.0.4.300", "Huawei Browser", "5.0.4", "HarmonyOS", "mobile"),  # noqa: E501
    ("Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; Tablet PC 2.0)", "IE", "8.0", "Windows", "desktop"),  # noqa: E501
    # a phone brand that ends in "bot" is not a bot
    ("Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", "Chrome Mobile", "120.0.0.0", "Android", "mobile"),  # noqa: E501
    # app HTTP stacks are real users, not bots
    ("Dalvik/2.1.0 (Linux; U; Android 11; M2102J20SG Build/RKQ1.200826.002)", "Android", "11", "Android", "mobile"),  # noqa: E501
    ("MyApp/1.0 CFNetwork/1410.0.3 Darwin/22.6.0", "MyApp", "1.0", "iOS", "mobile"),
    ("okhttp/4.12.0", "okhttp", "4.12.0", None, "unknown"),
]  # fmt: skip

# (user agent, browser family, version): Chinese in-app browsers
IN_APP = [
    (IOS + " MicroMessenger/8.0.42(0x18002a2a) NetType/WIFI Language/zh_CN", "WeChat", "8.0.42"),
    (ANDROID_WV + " XWEB/5023 MMWEBSDK/20230504 MicroMessenger/8.0.37.2380(0x2800255B) WeChat/arm64 Weixin NetType/WIFI", "WeChat", "8.0.37.2380"),  # noqa: E501
    (ANDROID_WV + " wxwork/4.1.6 MicroMessenger/7.0.1 NetType/WIFI Language/zh", "WeCom", "4.1.6"),
    (IOS + " QQ/8.8.38.612 V1_IPH_SQ_8.8.38_1_APP_A Pixel/1170 Core/WKWebView", "QQ", "8.8.38.612"),
    (ANDROID_WV.replace("Mobile Safari", "MQQBrowser/6.2 TBS/046011 Mobile Safari") + " V1_AND_SQ_8.8.50_2324_YYB_D QQ/8.8.50.6735 NetType/WIFI", "QQ", "8.8.50.6735"),  # noqa: E501
    ("Mozilla/5.0 (Linux; U; Android 10; zh-CN; V1938T Build/QP1A.190711.020) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.108 UCBrowser/13.4.0.1306 Mobile Safari/537.36", "UC Browser", "13.4.0.1306"),  # noqa: E501
    (ANDROID_WV + " T7/12.10 SP-engine/2.28.0 baiduboxapp/12.10.0.10 (Baidu; P1 10) NABar/1.0", "Baidu App", "12.10.0.10"),  # noqa: E501
    (ANDROID_WV.replace("Mobile Safari", "Quark/5.4.9.201 Mobile Safari"), "Quark", "5.4.9.201"),
    (IOS + " Weibo (iPhone13,2__weibo__11.11.1__iphone__os15.0)", "Weibo", "11.11.1"),
    (IOS + " aweme_23.5.0 JsSdk/2.0 NetType/WIFI app_version/23.5.0 BytedanceWebview/d8a21c6", "Douyin", "23.5.0"),  # noqa: E501
    (ANDROID_WV + " aweme_230400 JsSdk/1.0 NetType/WIFI app_version/23.4.0 BytedanceWebview/d8a21c6", "Douyin", "23.4.0"),  # noqa: E501
    (IOS + " discover/8.5 (iPhone; iOS 16.5; Scale/3.00) Resolution/1170*2532 Version/8.5", "Xiaohongshu", "8.5"),  # noqa: E501
    (ANDROID_WV + " XiaoHongShu/8.6.0 (Android)", "Xiaohongshu", "8.6.0"),
    (ANDROID_WV + " NewsArticle/8.4.4 ToutiaoMicroApp/2.13.0.0 TTWebView/0751130016239", "Toutiao", "8.4.4"),  # noqa: E501
    (ANDROID_WV + " Kwai/10.2.10.24236 ISLP/0 StatusHT/27 KDT/PHONE", "Kuaishou", "10.2.10.24236"),
    (IOS + " AliApp(AP/10.2.13.6000) Nebula AlipayClient/10.2.13.6000 Language/zh-Hans", "Alipay", "10.2.13.6000"),  # noqa: E501
    (IOS + " AliApp(DingTalk/6.5.0) com.laiwang.DingTalk/2150", "DingTalk", "6.5.0"),
    (IOS + " AliApp(TB/10.6.0) WindVane/8.7.2 1170x2532 WK", "Taobao", "10.6.0"),
]  # fmt: skip

# Every marker the ingest docs promise, as real crawlers, tools and monitors send them.
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/50.0 Safari/537.36; 360Spider",  # noqa: E501
    "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",  # noqa: E501
    "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",  # noqa: E501
    "Mozilla/5.0 (iPhone; CPU iPhone OS 10_3 like Mac OS X) AppleWebKit/602.1.50 (KHTML, like Gecko) CriOS/56.0.2924.75 Mobile/14E5239e Safari/602.1; YisouSpider",  # noqa: E501
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",  # noqa: E501
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",  # noqa: E501
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "curl/8.4.0",
    "Wget/1.21.4",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.28 Safari/537.36",  # noqa: E501
    "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",  # noqa: E501
    "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",  # noqa: E501
    "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
    # markers that ua-parser's own rules miss: only Haina's list catches them
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 kube-probe/1.29",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 Checkly/1.0",
    "Mozilla/5.0 (Windows NT 10.0) Chrome/120.0 Safari/537.36 (+https://monitor.example/about)",
    "Mozilla/5.0 (linux) AppleWebKit/537.36 (KHTML, like Gecko) jsdom/20.0.0",
    "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36 Puppeteer",
    "Mozilla/5.0 (compatible; Datadog/Synthetics)",
    "Apache-HttpClient/4.5.13 (Java/17.0.2)",
    "Python/3.11 aiohttp/3.9.1",
    "python-httpx/0.27.0",
    "ELB-HealthChecker/2.0",
    "Uptime-Kuma/1.23.0",
    "axios/1.6.2",
]


@pytest.mark.parametrize(("ua", "browser", "version", "os", "device_type"), BROWSERS)
def test_browsers_and_device_types(
    ua: str, browser: str, version: str | None, os: str | None, device_type: str
) -> None:
    device = parse_user_agent(ua)
    assert (device.browser, device.browser_version, device.os, device.device_type) == (
        browser,
        version,
        os,
        device_type,
    )
    assert device.is_bot is False


@pytest.mark.parametrize(("ua", "browser", "version"), IN_APP)
def test_chinese_in_app_browsers(ua: str, browser: str, version: str) -> None:
    device = parse_user_agent(ua)
    assert (device.browser, device.browser_version) == (browser, version)
    assert device.device_type == "mobile"
    assert not device.is_bot


def test_in_app_browser_without_os_token_counts_as_mobile() -> None:
    bilibili = "Mozilla/5.0 BiliDroid/7.38.0 (bbcallen@gmail.com) os/android model/Mi 10"
    assert parse_user_agent(bilibili) == Device("Bilibili", "7.38.0", None, None, "mobile", False)


def test_wechat_on_windows_is_a_desktop() -> None:
    ua = (
        "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/81.0.4044.138 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) "
        "WindowsWechat(0x63090621)"
    )
    assert parse_user_agent(ua) == Device(
        "WeChat", "7.0.20.1781", "Windows", "10", "desktop", False
    )


@pytest.mark.parametrize("ua", BOTS)
def test_bots_are_flagged_not_dropped(ua: str) -> None:
    device = parse_user_agent(ua)
    assert device.is_bot
    assert device.device_type == "bot"


def test_headless_chrome_is_a_bot_and_keeps_its_browser_name() -> None:
    device = parse_user_agent(next(ua for ua in BOTS if "HeadlessChrome" in ua))
    assert (device.browser, device.os, device.is_bot) == ("HeadlessChrome", "Linux", True)


@pytest.mark.parametrize("ua", [None, "", "   ", "\t\n"])
def test_missing_user_agent_is_unknown_not_bot(ua: str | None) -> None:
    assert (
        parse_user_agent(ua) == UNKNOWN_DEVICE == Device(None, None, None, None, "unknown", False)
    )


def test_uses_the_rust_resolver() -> None:
    # ua-parser[regex] is a declared dependency; the pure-Python resolver is ~100x slower.
    assert FAST_RESOLVER


def test_results_are_cached() -> None:
    ua = BROWSERS[0][0]
    assert parse_user_agent(ua) is parse_user_agent("".join(list(ua)))  # equal, not identical


def test_bot_markers_are_valid_in_python_regex_syntax() -> None:
    # The markers also run under the pure-Python resolver when ua-parser-rs is missing.
    combined = re.compile("|".join(BOT_MARKERS), re.IGNORECASE)
    assert combined.search("CUBOT X30") is None
    assert combined.search("my-robot/1.0") is not None


@quick
@given(st.text(max_size=600))
def test_any_text_parses_without_raising(ua: str) -> None:
    device = parse_user_agent(ua)
    assert device.device_type in DEVICE_TYPES
    assert device.is_bot == (device.device_type == "bot")


@quick
@given(st.sampled_from([b[0] for b in BROWSERS]), st.text(max_size=50))
def test_suffixes_never_break_a_known_browser(ua: str, suffix: str) -> None:
    device = parse_user_agent(ua + " " + suffix)
    assert device.device_type in DEVICE_TYPES


def test_very_long_user_agents_are_truncated_not_rejected() -> None:
    ua = BROWSERS[0][0] + " x" * 100_000
    assert parse_user_agent(ua).browser == "Chrome"


def test_pure_python_fallback_gives_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Where ua-parser-rs does not install, the same rules run on Python's re: they must mean
    # the same in both regex dialects.
    samples = [b[0] for b in BROWSERS] + [a[0] for a in IN_APP] + BOTS
    fast = {ua: parse_user_agent(ua) for ua in samples}
    monkeypatch.setattr(ua_parser, "RegexResolver", None)
    parser, device_types, is_fast = useragent._build_parsers()
    assert not is_fast
    monkeypatch.setattr(useragent, "_PARSER", parser)
    monkeypatch.setattr(useragent, "_DEVICE_TYPE_PARSER", device_types)
    useragent._parse_cached.cache_clear()
    try:
        assert {ua: parse_user_agent(ua) for ua in samples} == fast
    finally:
        useragent._parse_cached.cache_clear()
