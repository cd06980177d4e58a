"""The B2B story (海纳云): research, whitepapers, webinars, pricing, demo requests and trials.

Forms identify the visitor (with their company, sent as a `group` call too); how often a
visitor converts grows with their `intent`, so lead scores separate hot from cold leads.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from haina.demo.catalog import (
    B2B_BLOG_PAGES,
    B2B_PAGES,
    B2B_PRODUCT_PAGES,
    B2B_SOLUTION_PAGES,
    COMPANY_SIZES,
    COMPANY_WORDS,
    INDUSTRIES,
    JOB_TITLES,
    WEBINARS,
    WHITEPAPERS,
    Page,
)
from haina.demo.session import Arrival, Person, Visit
from haina.demo.visitors import CITIES, mobile_number, person_name
from haina.demo.weighted import Weighted, choose

_LANDINGS: dict[str, Weighted[str]] = {
    "search": Weighted([("blog", 45), ("product", 25), ("solution", 15), ("home", 15)]),
    "paid": Weighted([("product", 35), ("pricing", 20), ("whitepaper", 30), ("demo", 15)]),
    "social": Weighted([("blog", 60), ("webinar", 20), ("whitepaper", 20)]),
    "email": Weighted([("webinar", 40), ("whitepaper", 30), ("blog", 30)]),
    "direct": Weighted([("home", 60), ("pricing", 20), ("login", 20)]),
    "referral": Weighted([("home", 40), ("product", 30), ("blog", 30)]),
}
_NEXT: dict[str, Weighted[str]] = {
    "home": Weighted(
        [
            ("product", 30),
            ("solution", 20),
            ("pricing", 15),
            ("blog", 12),
            ("customers", 10),
            ("webinar", 5),
            ("whitepaper", 5),
            ("about", 3),
        ]
    ),
    "product": Weighted(
        [
            ("product", 25),
            ("pricing", 25),
            ("solution", 15),
            ("customers", 15),
            ("demo", 10),
            ("whitepaper", 10),
        ]
    ),
    "solution": Weighted(
        [("product", 25), ("customers", 25), ("pricing", 20), ("whitepaper", 15), ("demo", 15)]
    ),
    "pricing": Weighted(
        [("demo", 35), ("signup", 25), ("product", 20), ("customers", 10), ("contact", 10)]
    ),
    "blog": Weighted(
        [("blog", 35), ("whitepaper", 20), ("product", 20), ("home", 15), ("webinar", 10)]
    ),
    "whitepaper": Weighted([("blog", 30), ("product", 30), ("pricing", 20), ("webinar", 20)]),
    "webinar": Weighted([("blog", 40), ("product", 30), ("pricing", 30)]),
    "customers": Weighted([("product", 30), ("pricing", 40), ("demo", 30)]),
    "demo": Weighted([("pricing", 40), ("customers", 30), ("home", 30)]),
    "signup": Weighted([("pricing", 50), ("product", 50)]),
    "about": Weighted([("contact", 50), ("home", 50)]),
    "contact": Weighted([("home", 50), ("demo", 50)]),
}
_CONTACT_BY = Weighted([("phone", 50), ("wechat", 35), ("email", 15)])
# Company sizes by share of prospects (%): small and mid-sized firms dominate.
_SIZE_BY_PERCENT = tuple(
    size
    for size, share in zip(COMPANY_SIZES, (30, 30, 22, 12, 6), strict=True)
    for _ in range(share)
)


@dataclass(frozen=True, slots=True)
class Company:
    group_id: str
    name: str
    domain: str
    industry: str
    size: str
    city: str


def company(index: int) -> Company:
    """The `index`-th prospect company; derived from the index alone, so it needs no state."""
    words, industries, cities = len(COMPANY_WORDS), len(INDUSTRIES), 12  # mainland cities
    word, word_py = COMPANY_WORDS[index % words]
    industry, industry_py = INDUSTRIES[index // words % industries]
    city = CITIES[index // (words * industries) % cities]
    branch = index // (words * industries * cities)
    tag = str(branch) if branch else ""
    site = index // (words * industries) or ""  # the same brand in another city: another domain
    return Company(
        f"co_{index:05d}",
        f"{city.name}{word}{industry}{tag}有限公司",
        f"{word_py}-{industry_py}{site}.com.cn",
        industry,
        _SIZE_BY_PERCENT[index * 37 % 100],
        city.name,
    )


def b2b_traits(rng: random.Random, person: Person) -> dict[str, Any]:
    """What a lead form asks: name, work e-mail, mobile, company and role."""
    name, mailbox = person_name(rng)
    co = company(person.company)
    return {
        "name": name,
        "email": f"{mailbox}@{co.domain}",
        "phone": mobile_number(rng),
        "company": co.name,
        "industry": co.industry,
        "job_title": choose(rng, JOB_TITLES),
        "company_size": co.size,
        "city": person.city.name,
    }


def b2b_visit(v: Visit, arrival: Arrival) -> None:
    """Play one visit to the SaaS site, arriving by `arrival` (the visit's), into `v.out`."""
    rng = v.rng
    bounce = rng.random() < arrival.channel.bounce
    if bounce:
        v.first_median = 6.0
    location = _LANDINGS[arrival.channel.landing].pick(rng)
    budget = 1 if bounce else 2 + int(rng.expovariate(0.3))
    while location and _PAGES[location](v):
        if v.pages == 1 and arrival.channel.key == "email":
            _recognise(v)
        if v.pages >= budget or not v.open:
            break
        location = _NEXT[location].pick(rng) if location in _NEXT else ""
    v.close()


def _recognise(v: Visit) -> None:
    """Newsletter links carry the subscriber's id, so a known lead is identified on arrival."""
    traits = v.person.traits
    if traits is not None and v.device.user_id is None:
        v.identify({"email": traits["email"]})


def _fill_form(v: Visit) -> None:
    """Submitting a form identifies the visitor and ties them to their company."""
    person = v.person
    if v.device.user_id is not None:
        return
    first_time = person.traits is None
    if person.traits is None:
        person.traits = b2b_traits(v.rng, person)
    if not v.identify(dict(person.traits)):
        return
    if first_time and v.rng.random() < 0.1:
        v.alias()  # the CRM connector links the anonymous id to the new lead
    co = company(person.company)
    v.group(
        co.group_id,
        {
            "name": co.name,
            "industry": co.industry,
            "employees": co.size,
            "city": co.city,
            "website": f"https://www.{co.domain}",
        },
    )


def _pages(pages: tuple[Page, ...], median_s: float) -> Callable[[Visit], bool]:
    def view(v: Visit) -> bool:
        return v.view(choose(v.rng, pages), median_s)

    return view


def _static(name: str, median_s: float) -> Callable[[Visit], bool]:
    def view(v: Visit) -> bool:
        return v.view(B2B_PAGES[name], median_s)

    return view


def _whitepaper(v: Visit) -> bool:
    wid, title, page = choose(v.rng, WHITEPAPERS)
    if not v.view(page, 30):
        return False
    if v.rng.random() < 0.08 + 0.3 * v.person.intent:
        _fill_form(v)
        v.track("Whitepaper Downloaded", {"whitepaper_id": wid, "title": title, "format": "pdf"})
    return True


def _webinar(v: Visit) -> bool:
    rng = v.rng
    wid, title, page = choose(rng, WEBINARS)
    if not v.view(page, 30):
        return False
    if rng.random() < 0.06 + 0.3 * v.person.intent:
        _fill_form(v)
        # Webinars start at 14:00 China time (06:00 UTC), two to twelve days ahead.
        start = (v.t // 86_400_000 + rng.randint(2, 12)) * 86_400_000 + 6 * 3_600_000
        v.track(
            "Webinar Registered",
            {"webinar_id": wid, "webinar_name": title, "webinar_start": v.wire.timestamp(start)},
        )
        v.person.follow_ups.append(("webinar", start, title))
    return True


def _demo(v: Visit) -> bool:
    if not v.view(B2B_PAGES["demo"], 50):
        return False
    person = v.person
    if v.rng.random() < 0.03 + 0.5 * person.intent**2:
        _fill_form(v)
        v.track(
            "Demo Requested",
            {
                "product": "cdp",
                "company_size": company(person.company).size,
                "preferred_contact": _CONTACT_BY.pick(v.rng),
            },
        )
        person.follow_ups.append(("demo", v.t, ""))
    return True


def _signup(v: Visit) -> bool:
    if not v.view(B2B_PAGES["signup"], 60):
        return False
    person = v.person
    if v.rng.random() < 0.05 + 0.4 * person.intent**2:
        _fill_form(v)
        v.track("Trial Started", {"plan": "professional", "trial_days": 14})
        person.follow_ups.append(("trial", v.t, ""))
    return True


def _login(v: Visit) -> bool:
    """Customers pass through the login page on their way into the product."""
    if not v.view(B2B_PAGES["login"], 5):
        return False
    if v.person.has_account:
        _fill_form(v)
    return False  # the visit continues in the app, outside this site


_PAGES: dict[str, Callable[[Visit], bool]] = {
    "home": _static("home", 10),
    "pricing": _static("pricing", 45),
    "customers": _static("customers", 40),
    "about": _static("about", 20),
    "contact": _static("contact", 20),
    "product": _pages(B2B_PRODUCT_PAGES, 35),
    "solution": _pages(B2B_SOLUTION_PAGES, 40),
    "blog": _pages(B2B_BLOG_PAGES, 90),
    "whitepaper": _whitepaper,
    "webinar": _webinar,
    "demo": _demo,
    "signup": _signup,
    "login": _login,
}
