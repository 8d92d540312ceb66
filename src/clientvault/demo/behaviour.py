"""One customer's life with the shop, as Segment-shaped events: sessions of page views and
product views, carts (often abandoned), checkouts, orders, refunds, support tickets and
satisfaction surveys, spread from sign-up until they drift away or until now.

Activity is heavy-tailed: most customers come once or twice, a few come back dozens of
times. What they look at follows their interests; how often they buy follows a per-customer
propensity. Event properties and context never carry personal data: ids are the shop's own
(order, cart, ticket, session), pages are the shop's, referrers are search engines.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from clientvault.demo.catalogue import CATEGORIES, CURRENCY, Catalogue, Product
from clientvault.demo.draw import Weighted

SHOP_URL = "https://shop.example.com"
MAX_SESSIONS = 150
#: Visits start, and tickets and refunds happen, at least this long before "now" (a visit
#: then ends before now: its steps are capped there anyway).
QUIET_BEFORE_NOW = timedelta(hours=2)

_DEVICE_TYPES = Weighted(("mobile", "desktop", "tablet"), (55, 35, 10))
_DEVICE_COUNT = Weighted((1, 2, 3), (60, 30, 10))
_REFERRERS = Weighted(
    (
        "https://www.google.com/",
        "https://www.bing.com/",
        "https://duckduckgo.com/",
        "https://www.instagram.com/",
        "https://www.pinterest.com/",
        "",
    ),
    (45, 6, 4, 8, 4, 33),
)
_CAMPAIGNS = (
    {"source": "newsletter", "medium": "email", "name": "weekly-picks"},
    {"source": "google", "medium": "cpc", "name": "brand-search"},
    {"source": "instagram", "medium": "social", "name": "new-season"},
    {"source": "partner-blog", "medium": "referral", "name": "gift-guide"},
)
#: Hour of day of session starts (UTC, close enough to central European time).
_HOURS = Weighted(
    range(24),
    (
        1,
        0.5,
        0.3,
        0.2,
        0.2,
        0.4,
        1,
        2,
        3,
        3.5,
        4,
        4.5,
        5,
        5,
        4.5,
        4.5,
        5,
        6,
        7.5,
        8.5,
        8,
        6.5,
        4,
        2,
    ),
)
_QUANTITY = Weighted((1, 2, 3), (80, 15, 5))
_TICKET_CATEGORIES = Weighted(("delivery", "product", "billing", "returns"), (45, 25, 15, 15))
_TICKET_CHANNELS = Weighted(("email", "chat", "phone", "web_form"), (40, 30, 15, 15))
_PRIORITY = Weighted(("low", "normal", "high"), (25, 60, 15))
_SCORES = (1, 2, 3, 4, 5)
_CSAT_FAST = Weighted(_SCORES, (2, 3, 10, 35, 50))
_CSAT_DAY = Weighted(_SCORES, (5, 10, 25, 35, 25))
_CSAT_SLOW = Weighted(_SCORES, (20, 25, 25, 20, 10))
_RESOLUTIONS = {
    "delivery": ("resolved", "reshipped", "refunded"),
    "product": ("resolved", "replaced", "refunded"),
    "billing": ("resolved", "corrected"),
    "returns": ("resolved", "refunded"),
    "account": ("resolved", "no_action"),
}
_CATEGORY_TITLES = {category.key: f"{category.title} — Demo Shop" for category in CATEGORIES}
_BACK_OFFICE = {"app": {"name": "back-office"}}
_HELPDESK = {"app": {"name": "helpdesk"}}


class IdSource(Protocol):
    """Where the shop's own identifiers come from (unique across a whole demo run)."""

    def session(self) -> str:
        """A new web session id."""
        ...

    def cart(self) -> str:
        """A new cart id (also the checkout id)."""
        ...

    def order(self) -> str:
        """A new public order id."""
        ...

    def ticket(self) -> str:
        """A new support ticket id."""
        ...


@dataclass(slots=True)
class PlannedOrder:
    """An order as the commerce tables will hold it."""

    external_id: str
    placed_at: datetime
    lines: list[tuple[Product, int]]
    total: Decimal
    returned: dict[str, int] = field(default_factory=dict)  # sku → units
    refunded_amount: Decimal = Decimal("0.00")
    #: The ``Order Refunded`` event (its position in the customer's events) and its time.
    refund_event: int | None = None
    refunded_at: datetime | None = None

    @property
    def status(self) -> str:
        """As the commerce consumer names it: completed, partially_refunded or refunded."""
        if self.refunded_amount <= 0:
            return "completed"
        return "refunded" if self.refunded_amount >= self.total else "partially_refunded"


#: (type, name, occurred_at, device number or -1, properties, context)
TimelineEvent = tuple[str, str | None, datetime, int, dict[str, Any], dict[str, Any]]


@dataclass(slots=True)
class Activity:
    """Everything one customer did (events in time order once ``simulate`` returns)."""

    devices: list[str]  # anonymous ids
    events: list[TimelineEvent] = field(default_factory=list)
    orders: list[PlannedOrder] = field(default_factory=list)
    last_seen: datetime | None = None
    stats: Counter[str] = field(default_factory=Counter)


def _product_line(product: Product, quantity: int) -> dict[str, Any]:
    return {
        "product_id": product.sku,
        "sku": product.sku,
        "name": product.name,
        "price": float(product.price),
        "quantity": quantity,
        "category": product.category,
    }


def _viewed(product: Product) -> dict[str, Any]:
    return {
        "product_id": product.sku,
        "sku": product.sku,
        "name": product.name,
        "price": float(product.price),
        "category": product.category,
        "currency": CURRENCY,
    }


class _Customer:
    """The simulation of one customer (state shared by the session and order steps)."""

    def __init__(
        self,
        rng: random.Random,
        *,
        catalogue: Catalogue,
        ids: IdSource,
        now: datetime,
        web_locale: str,
        interests: list[str],
    ) -> None:
        self.rng = rng
        self.catalogue = catalogue
        self.ids = ids
        self.horizon = now - QUIET_BEFORE_NOW
        self.latest = now - timedelta(seconds=1)
        self.web_locale = web_locale
        categories = [c for i in interests for c in catalogue.categories_for_interest.get(i, ())]
        self.favourite_categories = categories or [CATEGORIES[0].key]
        self.propensity = rng.betavariate(2, 5)
        count = _DEVICE_COUNT.pick(rng)
        self.device_types = [_DEVICE_TYPES.pick(rng) for _ in range(count)]
        self.activity = Activity(
            devices=[str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]
        )
        self.identified: set[int] = set()

    def emit(
        self,
        kind: str,
        name: str | None,
        at: datetime,
        device: int,
        properties: dict[str, Any],
        context: dict[str, Any],
    ) -> None:
        self.activity.events.append((kind, name, at, device, properties, context))

    def step(self, at: datetime) -> datetime:
        """The time of the next action in a session (seconds to a couple of minutes later)."""
        return min(self.latest, at + timedelta(seconds=int(self.rng.lognormvariate(3.2, 0.8)) + 2))

    def pick_product(self) -> Product:
        if self.rng.random() < 0.7:
            return self.catalogue.draw(self.rng, self.rng.choice(self.favourite_categories))
        return self.catalogue.draw(self.rng)

    def page(
        self,
        at: datetime,
        device: int,
        context: dict[str, Any],
        name: str,
        path: str,
        title: str,
        referrer: str,
    ) -> str:
        url = SHOP_URL + path
        properties = {"path": path, "url": url, "title": title, "referrer": referrer}
        self.emit("page", name, at, device, properties, context)
        return url

    def session(self, start: datetime, *, first: bool) -> None:
        """One visit: landing page, some product pages, maybe a cart and a checkout (more
        likely on the first visit: many customers sign up to buy)."""
        rng = self.rng
        keen = 0.25 if first else 0.0
        device = 0 if first else rng.randrange(len(self.activity.devices))
        context: dict[str, Any] = {
            "session_id": self.ids.session(),
            "device": {"type": self.device_types[device]},
            "locale": self.web_locale,
        }
        if rng.random() < 0.25:
            context["campaign"] = rng.choice(_CAMPAIGNS)
        referrer = _REFERRERS.pick(rng)
        at = start
        on_home = rng.random() < 0.45
        if on_home:
            url = self.page(at, device, context, "Home", "/", "Demo Shop", referrer)
        else:
            category = rng.choice(self.favourite_categories)
            title = _CATEGORY_TITLES[category]
            url = self.page(at, device, context, "Category", f"/c/{category}", title, referrer)
        if device not in self.identified:
            self.identified.add(device)
            at = self.step(at)
            self.emit("identify", None, at, device, {}, context)

        cart: dict[str, tuple[Product, int]] = {}
        cart_id: str | None = None
        for _ in range(min(12, int(rng.expovariate(0.7)) + (0 if on_home else 1))):
            product = self.pick_product()
            at = self.step(at)
            title = f"{product.name} — Demo Shop"
            url = self.page(at, device, context, "Product", product.path, title, url)
            self.emit("track", "Product Viewed", at, device, _viewed(product), context)
            if rng.random() < 0.1 + keen + 0.4 * self.propensity:
                quantity = _QUANTITY.pick(rng)
                cart_id = cart_id or self.ids.cart()
                in_cart = cart.get(product.sku, (product, 0))[1]
                cart[product.sku] = (product, in_cart + quantity)
                at = self.step(at)
                added = _product_line(product, quantity)
                added["cart_id"] = cart_id
                added["currency"] = CURRENCY
                self.emit("track", "Product Added", at, device, added, context)

        if cart and cart_id is not None:
            self.checkout(at, device, context, url, list(cart.values()), cart_id, keen=keen)
        elif rng.random() < 0.04:
            at = self.step(at)
            self.page(at, device, context, "Help", "/help", "Help centre — Demo Shop", url)

    def checkout(
        self,
        at: datetime,
        device: int,
        context: dict[str, Any],
        url: str,
        cart: list[tuple[Product, int]],
        cart_id: str,
        *,
        keen: float,
    ) -> None:
        """The cart, maybe the checkout, maybe the order (else an abandoned cart)."""
        rng = self.rng
        lines = [_product_line(product, quantity) for product, quantity in cart]
        total = sum((product.price * quantity for product, quantity in cart), Decimal("0.00"))
        if rng.random() < 0.7:
            at = self.step(at)
            url = self.page(at, device, context, "Cart", "/cart", "Your cart — Demo Shop", url)
            viewed = {"cart_id": cart_id, "products": lines}
            self.emit("track", "Cart Viewed", at, device, viewed, context)
        if rng.random() >= 0.45 + keen + 0.5 * self.propensity:
            self.activity.stats["abandoned_carts"] += 1
            return
        at = self.step(at)
        url = self.page(at, device, context, "Checkout", "/checkout", "Checkout — Demo Shop", url)
        started = {
            "checkout_id": cart_id,
            "value": float(total),
            "currency": CURRENCY,
            "products": lines,
        }
        self.emit("track", "Checkout Started", at, device, started, context)
        if rng.random() >= 0.65 + 0.35 * self.propensity:
            self.activity.stats["abandoned_carts"] += 1
            return
        at = self.step(at)
        external_id = self.ids.order()
        completed = {
            "order_id": external_id,
            "checkout_id": cart_id,
            "total": float(total),
            "revenue": float(total),
            "currency": CURRENCY,
            "products": lines,
        }
        self.emit("track", "Order Completed", at, device, completed, context)
        path, title = "/checkout/confirmation", "Thank you — Demo Shop"
        self.page(at, device, context, "Order Confirmation", path, title, url)
        order = PlannedOrder(external_id=external_id, placed_at=at, lines=cart, total=total)
        self.activity.orders.append(order)
        self.after_order(order)

    def after_order(self, order: PlannedOrder) -> None:
        """Sometimes a refund, sometimes a support ticket about the order."""
        rng = self.rng
        refund_at: datetime | None = None
        if rng.random() < 0.08:
            delay = timedelta(days=rng.randint(3, 30), hours=rng.randint(0, 23))
            refund_at = order.placed_at + delay
            if refund_at >= self.horizon:
                refund_at = None
        if refund_at is not None and rng.random() < 0.4:
            self.ticket(refund_at - timedelta(days=rng.randint(1, 2)), "returns", order)
        elif rng.random() < 0.08:
            delay = timedelta(days=rng.randint(1, 10), hours=rng.randint(0, 12))
            self.ticket(order.placed_at + delay, _TICKET_CATEGORIES.pick(rng), order)
        if refund_at is not None:
            self.refund(order, refund_at)

    def refund(self, order: PlannedOrder, at: datetime) -> None:
        """The whole order or part of one line comes back and is refunded."""
        rng = self.rng
        single_unit = len(order.lines) == 1 and order.lines[0][1] == 1
        if single_unit or rng.random() < 0.5:
            returned = list(order.lines)
        else:
            product, quantity = rng.choice(order.lines)
            returned = [(product, rng.randint(1, quantity))]
        for product, units in returned:
            order.returned[product.sku] = order.returned.get(product.sku, 0) + units
        amount = sum((product.price * units for product, units in returned), Decimal("0.00"))
        order.refunded_amount = amount
        order.refunded_at = at
        order.refund_event = len(self.activity.events)
        properties = {
            "order_id": order.external_id,
            "total": float(amount),
            "currency": CURRENCY,
            "products": [_product_line(product, units) for product, units in returned],
        }
        self.emit("track", "Order Refunded", at, -1, properties, _BACK_OFFICE)
        self.activity.stats["refunds"] += 1

    def ticket(self, opened: datetime, category: str, order: PlannedOrder | None) -> None:
        """A support ticket: opened, closed some hours later, sometimes rated."""
        rng = self.rng
        if opened >= self.horizon:
            return
        ticket_id = self.ids.ticket()
        channel = _TICKET_CHANNELS.pick(rng)
        properties: dict[str, Any] = {
            "ticket_id": ticket_id,
            "category": category,
            "channel": channel,
            "priority": _PRIORITY.pick(rng),
        }
        if order is not None:
            properties["order_id"] = order.external_id
        self.emit("track", "Support Ticket Opened", opened, -1, properties, _HELPDESK)
        self.activity.stats["support_tickets"] += 1
        hours = min(24 * 14, rng.lognormvariate(2.6, 1.1))
        closed = opened + timedelta(hours=hours)
        if closed >= self.horizon:
            return
        closing = {
            "ticket_id": ticket_id,
            "category": category,
            "channel": channel,
            "resolution": rng.choice(_RESOLUTIONS[category]),
            "duration_hours": round(hours, 1),
        }
        self.emit("track", "Support Ticket Closed", closed, -1, closing, _HELPDESK)
        if rng.random() >= 0.45:
            return
        scores = _CSAT_FAST if hours < 8 else _CSAT_DAY if hours < 48 else _CSAT_SLOW
        answered = closed + timedelta(hours=rng.randint(1, 48))
        if answered >= self.horizon:
            return
        survey = {
            "ticket_id": ticket_id,
            "score": scores.pick(rng),
            "survey": "csat",
            "channel": channel,
        }
        self.emit("track", "CSAT Survey Answered", answered, -1, survey, _HELPDESK)


def session_starts(
    rng: random.Random, signup_at: datetime, now: datetime, *, scale: float
) -> list[datetime]:
    """When the customer visits: at sign-up, then a heavy-tailed number of later visits
    spread until they drift away (or now), at realistic hours of the day."""
    horizon = now - QUIET_BEFORE_NOW
    lifetime = timedelta(days=rng.expovariate(1 / 300))
    until = min(horizon, signup_at + lifetime)
    count = max(1, min(MAX_SESSIONS, int(rng.paretovariate(1.75) * scale)))
    span = max(0.0, (until - signup_at).total_seconds())
    starts = [signup_at]
    for _ in range(count - 1):
        moment = signup_at + timedelta(seconds=rng.random() * span)
        at_hour = moment.replace(
            hour=_HOURS.pick(rng), minute=rng.randrange(60), second=rng.randrange(60)
        )
        if signup_at < at_hour <= horizon:
            moment = at_hour
        starts.append(min(moment, horizon))
    starts.sort()
    return starts


def simulate(
    rng: random.Random,
    *,
    catalogue: Catalogue,
    ids: IdSource,
    signup_at: datetime,
    now: datetime,
    web_locale: str,
    interests: list[str],
    scale: float = 1.0,
) -> Activity:
    """Simulate one customer from sign-up until now; ``scale`` shrinks or grows how often
    they come back (planted duplicate profiles are used less than real ones)."""
    customer = _Customer(
        rng, catalogue=catalogue, ids=ids, now=now, web_locale=web_locale, interests=interests
    )
    for number, start in enumerate(session_starts(rng, signup_at, now, scale=scale)):
        customer.session(start, first=number == 0)
    if rng.random() < 0.04:
        span = max(0.0, (customer.horizon - signup_at).total_seconds())
        customer.ticket(signup_at + timedelta(seconds=rng.random() * span), "account", None)
    activity = customer.activity
    order = sorted(range(len(activity.events)), key=lambda n: activity.events[n][2])
    moved = {old: new for new, old in enumerate(order)}
    activity.events = [activity.events[n] for n in order]
    for planned in activity.orders:
        if planned.refund_event is not None:
            planned.refund_event = moved[planned.refund_event]
    if activity.events:
        activity.last_seen = activity.events[-1][2]
    return activity
