"""The shop story (海纳优选): visitors browse, search, sort, add to cart, sign up and buy.

Events follow the Segment e-commerce spec. Each step of the purchase funnel is a chance
decision, so product views ≫ adds to cart > checkouts > orders.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from haina.demo.catalog import (
    CATEGORIES,
    CATEGORY_PAGES,
    COUPONS,
    PRODUCTS,
    PRODUCTS_BY_CATEGORY,
    SEARCH_PAGES,
    SHOP_PAGES,
    SHOP_SEARCH_TERMS,
    SORTED_CATEGORY_PAGES,
    Product,
)
from haina.demo.session import Arrival, Person, Visit
from haina.demo.visitors import MAIL_DOMAINS, mobile_number, person_name
from haina.demo.weighted import Weighted, choose

# Where a visit from each kind of channel lands, and where a visitor goes next from a page.
_LANDINGS: dict[str, Weighted[str]] = {
    "search": Weighted([("product", 45), ("category", 25), ("home", 30)]),
    "paid": Weighted([("promo", 40), ("product", 40), ("category", 20)]),
    "social": Weighted([("product", 55), ("promo", 25), ("home", 20)]),
    "email": Weighted([("promo", 45), ("coupons", 35), ("product", 20)]),
    "direct": Weighted([("home", 78), ("orders", 8), ("cart", 8), ("product", 6)]),
    "referral": Weighted([("product", 80), ("home", 20)]),
}
_NEXT: dict[str, Weighted[str]] = {
    "home": Weighted(
        [("product", 45), ("category", 30), ("search", 15), ("coupons", 6), ("promo", 4)]
    ),
    "category": Weighted([("product", 70), ("sort", 12), ("search", 10), ("home", 8)]),
    "sort": Weighted([("product", 85), ("category", 10), ("home", 5)]),
    "search": Weighted([("product", 75), ("search", 15), ("category", 10)]),
    "product": Weighted(
        [
            ("product", 45),
            ("category", 22),
            ("search", 15),
            ("home", 10),
            ("coupons", 4),
            ("help", 4),
        ]
    ),
    "promo": Weighted([("product", 60), ("coupons", 20), ("category", 20)]),
    "coupons": Weighted([("product", 50), ("promo", 20), ("category", 30)]),
    "cart": Weighted([("product", 50), ("home", 30), ("category", 20)]),
    "orders": Weighted([("home", 50), ("product", 50)]),
    "help": Weighted([("product", 50), ("home", 50)]),
}
_PRODUCT_PICK = Weighted((p, 100 / math.sqrt(p.price)) for p in PRODUCTS)
_PICK_IN_CATEGORY = {
    slug: Weighted((p, 100 / math.sqrt(p.price)) for p in products)
    for slug, products in PRODUCTS_BY_CATEGORY.items()
}
_CATEGORY_PICK = Weighted([("electronics", 40), ("home", 25), ("beauty", 25), ("books", 10)])
_TERM_CATEGORIES = dict(SHOP_SEARCH_TERMS)
_PAYMENT = Weighted([("wechat_pay", 55), ("alipay", 38), ("unionpay", 7)])


class _Trip:
    """What one visit has seen so far, and a forced next step."""

    __slots__ = ("category", "next")

    def __init__(self) -> None:
        self.category = ""
        self.next = ""


def shop_visit(v: Visit, arrival: Arrival) -> None:
    """Play one visit to the shop, arriving by `arrival` (the visit's), into `v.out`."""
    rng = v.rng
    bounce = rng.random() < arrival.channel.bounce
    if bounce:
        v.first_median = 4.0
    trip = _Trip()
    trip.category = _TERM_CATEGORIES.get(arrival.term or "", "")  # land on what they searched
    location = _LANDINGS[arrival.channel.landing].pick(rng)
    if location == "cart" and not v.person.cart:
        location = "home"
    budget = 1 if bounce else 2 + int(rng.expovariate(0.22))
    while _PAGES[location](v, trip):
        if v.pages == 1 and not bounce and _may_log_in(v):
            _log_in(v)
        if v.pages >= budget or not v.open:
            break
        location = trip.next or _NEXT[location].pick(rng)
        trip.next = ""
    v.close()


def shop_traits(rng: random.Random, person: Person) -> dict[str, Any]:
    """Profile traits a shopper gives on sign-up: a phone number always, e-mail often."""
    name, mailbox = person_name(rng)
    traits: dict[str, Any] = {"name": name, "phone": mobile_number(rng), "city": person.city.name}
    if rng.random() < 0.25:
        traits["email"] = f"{rng.randrange(10**7, 3 * 10**9)}@qq.com"
    elif rng.random() < 0.45:
        traits["email"] = f"{mailbox}{rng.randrange(100)}@{choose(rng, MAIL_DOMAINS)}"
    return traits


def _static(name: str, median_s: float) -> Callable[[Visit, _Trip], bool]:
    def view(v: Visit, trip: _Trip) -> bool:
        return v.view(SHOP_PAGES[name], median_s)

    return view


def _coupons(v: Visit, trip: _Trip) -> bool:
    if not v.view(SHOP_PAGES["coupons"], 12):
        return False
    if v.device.user_id is None and v.rng.random() < 0.2:
        _log_in(v)  # the new-customer coupon pack (新人礼包) needs an account
    return True


def _category(v: Visit, trip: _Trip) -> bool:
    slug = trip.category = trip.category or _CATEGORY_PICK.pick(v.rng)
    if not v.view(CATEGORY_PAGES[slug], 12):
        return False
    v.track("Product List Viewed", {"list_id": slug, "category": CATEGORIES[slug]})
    return True


def _sort(v: Visit, trip: _Trip) -> bool:
    slug = trip.category = trip.category or _CATEGORY_PICK.pick(v.rng)
    if not v.view(SORTED_CATEGORY_PAGES[slug], 10):
        return False
    v.track(
        "Product List Filtered",
        {
            "list_id": slug,
            "category": CATEGORIES[slug],
            "filters": [],
            "sorts": [{"type": "price", "value": "asc"}],
        },
    )
    return True


def _search(v: Visit, trip: _Trip) -> bool:
    term, slug, page = choose(v.rng, SEARCH_PAGES)
    if not v.view(page, 9):
        return False
    trip.category = slug
    v.track("Products Searched", {"query": term})
    return True


def _product(v: Visit, trip: _Trip) -> bool:
    rng = v.rng
    pick = _PICK_IN_CATEGORY[trip.category] if trip.category and rng.random() < 0.7 else None
    product = (pick or _PRODUCT_PICK).pick(rng)
    if not v.view(product.page, 25):
        return False
    v.track("Product Viewed", _product_properties(product))
    person = v.person
    if rng.random() < 0.05 + 0.15 * person.intent:
        person.cart.append(product)
        v.track(
            "Product Added",
            {**_product_properties(product), "quantity": 1, "cart_id": f"cart-{person.index}"},
        )
        if rng.random() < 0.55:
            trip.next = "cart"
    return True


def _cart(v: Visit, trip: _Trip) -> bool:
    if not v.view(SHOP_PAGES["cart"], 15):
        return False
    person = v.person
    v.track(
        "Cart Viewed",
        {"cart_id": f"cart-{person.index}", "products": [_line(p) for p in person.cart]},
    )
    if person.cart and v.rng.random() < 0.3 + 0.4 * person.intent:
        _checkout(v)
    return True


def _checkout(v: Visit) -> None:
    rng, person = v.rng, v.person
    if v.device.user_id is None:
        _log_in(v)
    if not v.view(SHOP_PAGES["checkout"], 40):
        return
    person.checkouts += 1
    order_id = f"HN{person.index:07d}{person.checkouts:02d}"
    lines = [_line(p) for p in person.cart]
    subtotal = round(sum(p.price for p in person.cart), 2)
    v.track(
        "Checkout Started",
        {
            "order_id": order_id,
            "value": subtotal,
            "revenue": subtotal,
            "currency": "CNY",
            "products": lines,
        },
    )
    discount, coupon = 0.0, ""
    if rng.random() < 0.3:
        coupon, coupon_name, discount = choose(rng, COUPONS)
        v.track(
            "Coupon Applied",
            {
                "order_id": order_id,
                "coupon_id": coupon,
                "coupon_name": coupon_name,
                "discount": discount,
            },
        )
    if rng.random() > 0.55 + 0.3 * person.intent or not v.view(SHOP_PAGES["success"], 10):
        return
    shipping = 0.0 if subtotal >= 99 else 10.0
    revenue = round(max(subtotal - discount, 0.0), 2)
    properties: dict[str, Any] = {
        "order_id": order_id,
        "affiliation": "海纳优选官网",
        "subtotal": subtotal,
        "total": round(revenue + shipping, 2),
        "revenue": revenue,
        "shipping": shipping,
        "discount": discount,
        "currency": "CNY",
        "payment_method": _PAYMENT.pick(rng),
        "products": lines,
    }
    if coupon:
        properties["coupon"] = coupon
    v.track("Order Completed", properties)
    person.orders += 1
    person.cart.clear()


def _may_log_in(v: Visit) -> bool:
    person = v.person
    known = person.has_account or person.identified_at is not None
    return known and v.device.user_id is None and v.rng.random() < 0.5


def _log_in(v: Visit) -> None:
    """Log in (a known person) or sign up (a new one): either way the page sends identify."""
    rng, person = v.rng, v.person
    signing_up = not person.has_account and person.traits is None
    if not v.view(SHOP_PAGES["signup" if signing_up else "login"], 30 if signing_up else 15):
        return
    if person.traits is None:
        person.traits = shop_traits(rng, person)
    if v.identify(dict(person.traits)) and signing_up and rng.random() < 0.15:
        v.alias()  # a legacy integration links the anonymous id to the new account


def _product_properties(p: Product) -> dict[str, Any]:
    return {
        "product_id": p.product_id,
        "sku": p.sku,
        "category": p.category,
        "name": p.name,
        "brand": p.brand,
        "price": p.price,
        "currency": "CNY",
        "url": p.page.url,
    }


def _line(p: Product) -> dict[str, Any]:
    return {
        "product_id": p.product_id,
        "sku": p.sku,
        "name": p.name,
        "category": p.category,
        "price": p.price,
        "quantity": 1,
    }


_PAGES: dict[str, Callable[[Visit, _Trip], bool]] = {
    "home": _static("home", 8),
    "category": _category,
    "sort": _sort,
    "search": _search,
    "product": _product,
    "cart": _cart,
    "promo": _static("promo", 15),
    "coupons": _coupons,
    "orders": _static("orders", 15),
    "help": _static("help", 25),
}
