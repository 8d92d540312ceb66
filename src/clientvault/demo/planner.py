"""Planning the demo data batch by batch: people (original or planted duplicates), what each
of them did, their consent decisions, and every row to write, already in driver form.

The planner needs no database and no key: rows that need the customer's id (only known once
``create_customers`` has run) or a blind index (which needs the index key) carry a
placeholder that the writer fills in. That is what lets planning run in a second process.

Determinism: each customer draws from a ``random.Random`` seeded with the run's seed and the
customer's position, and positions are planned in order, so a seed always gives the same
data whatever the batch size or the process the planner runs in.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from clientvault.demo.behaviour import QUIET_BEFORE_NOW, Activity, simulate
from clientvault.demo.catalogue import CURRENCY, build_catalogue
from clientvault.demo.codec import DialectRef, TableCodec
from clientvault.demo.consents import consent_history, policies
from clientvault.demo.duplicates import make_duplicate, plan_duplicates
from clientvault.demo.people import Person, make_person, signup_time
from clientvault.demo.pools import build_pools
from clientvault.identity.models import CustomerIdentity
from clientvault.identity.schemas import CustomerCreate
from clientvault.ingest.models import Event, Order, OrderItem
from clientvault.privacy.models import ConsentRecord

#: The demo covers this much history, ending now.
HISTORY = timedelta(days=730)
SOURCE = "demo"
#: Planted duplicate profiles come back less often than the person's main profile.
DUPLICATE_ACTIVITY = 0.5

EVENT_COLUMNS = (
    "message_id",
    "type",
    "name",
    "customer_id",
    "anonymous_index",
    "user_index",
    "occurred_at",
    "received_at",
    "source",
    "properties",
    "context",
)
ORDER_COLUMNS = (
    "id",
    "external_id",
    "customer_id",
    "status",
    "placed_at",
    "currency",
    "total",
    "refunded_amount",
)
ITEM_COLUMNS = ("order_id", "product_id", "quantity", "unit_price", "returned_quantity")
CONSENT_COLUMNS = (
    "customer_id",
    "purpose",
    "decision",
    "recorded_at",
    "policy_version",
    "channel",
    "source",
    "proof_ref",
)
IDENTITY_COLUMNS = (
    "customer_id",
    "kind",
    "value_index",
    "source",
    "first_seen_at",
    "last_seen_at",
)


def message_id(seed: int, number: int) -> str:
    """The ``message_id`` of a run's ``number``-th event (numbered from 1)."""
    return f"demo-{seed}-{number}"


@dataclass(frozen=True)
class PlanConfig:
    """What planning depends on (picklable, so a child process can plan)."""

    seed: int
    customers: int
    batch_size: int
    now: datetime
    default_region: str
    dialect: DialectRef
    #: SKU → ``products.id`` in the target database.
    product_ids: dict[str, int]
    first_order_id: int


@dataclass(frozen=True)
class Codecs:
    """The row codecs of every table the planner fills."""

    events: TableCodec
    orders: TableCodec
    items: TableCodec
    consents: TableCodec
    identities: TableCodec

    @classmethod
    def load(cls, ref: DialectRef) -> Codecs:
        """Codecs for the dialect ``ref`` names."""
        dialect = ref.load()
        return cls(
            events=TableCodec(Event.__table__, EVENT_COLUMNS, dialect),  # type: ignore[arg-type]
            orders=TableCodec(Order.__table__, ORDER_COLUMNS, dialect),  # type: ignore[arg-type]
            items=TableCodec(OrderItem.__table__, ITEM_COLUMNS, dialect),  # type: ignore[arg-type]
            consents=TableCodec(ConsentRecord.__table__, CONSENT_COLUMNS, dialect),  # type: ignore[arg-type]
            identities=TableCodec(CustomerIdentity.__table__, IDENTITY_COLUMNS, dialect),  # type: ignore[arg-type]
        )


@dataclass
class PlannedBatch:
    """One transaction's worth of demo data.

    Placeholders left for the writer: ``customer_id`` holds the customer's position in this
    batch; ``anonymous_index`` and ``user_index`` of events and ``value_index`` of identities
    hold the raw identifier to blind-index.
    """

    start: int
    profiles: list[CustomerCreate]
    signups: list[datetime]
    #: (duplicate's position in the run, original's position, what changed)
    duplicates: list[tuple[int, int, str]]
    events: list[list[Any]] = field(default_factory=list)
    orders: list[list[Any]] = field(default_factory=list)
    items: list[list[Any]] = field(default_factory=list)
    consents: list[list[Any]] = field(default_factory=list)
    identities: list[list[Any]] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)


class _Ids:
    """The shop's own identifiers, unique in a run (and across seeds)."""

    def __init__(self, seed: int, first_order_id: int) -> None:
        self.prefix = f"demo-{seed}"
        self.next_order_id = first_order_id
        self.counts: Counter[str] = Counter()

    def _next(self, kind: str) -> str:
        self.counts[kind] += 1
        return f"{self.prefix}-{kind}{self.counts[kind]}"

    def session(self) -> str:
        return self._next("s")

    def cart(self) -> str:
        return self._next("cart")

    def order(self) -> tuple[int, str]:
        order_id = self.next_order_id
        self.next_order_id += 1
        return order_id, self._next("o")

    def ticket(self) -> str:
        return self._next("t")


class DemoPlanner:
    """Plans a whole run, one batch at a time (stateful: keeps e-mails and phones unique and
    remembers the people that later duplicates copy)."""

    def __init__(self, config: PlanConfig) -> None:
        self.config = config
        self.codecs = Codecs.load(config.dialect)
        self.pools = build_pools(config.seed)
        self.catalogue = build_catalogue()
        self.duplicates = plan_duplicates(config.seed, config.customers)
        self.start = config.now - HISTORY
        self.horizon = config.now - QUIET_BEFORE_NOW
        self.versions = policies(self.start)
        self.ids = _Ids(config.seed, config.first_order_id)
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.kept: dict[int, tuple[Person, datetime]] = {}
        self.events = 0
        self.decisions = 0
        codecs = self.codecs
        self._event_slots = (
            codecs.events.slot("customer_id"),
            codecs.events.slot("anonymous_index"),
            codecs.events.slot("user_index"),
        )
        self._order_slot = codecs.orders.slot("customer_id")
        self._consent_slot = codecs.consents.slot("customer_id")
        self._identity_slots = (
            codecs.identities.slot("customer_id"),
            codecs.identities.slot("value_index"),
        )

    def batches(self) -> Iterator[PlannedBatch]:
        """Every batch of the run, in order."""
        size = self.config.batch_size
        for start in range(0, self.config.customers, size):
            yield self.batch(start, min(size, self.config.customers - start))

    def batch(self, start: int, count: int) -> PlannedBatch:
        """The batch of customers ``start`` to ``start + count - 1`` (call in order)."""
        batch = PlannedBatch(start=start, profiles=[], signups=[], duplicates=[])
        for local in range(count):
            self._customer(batch, start + local, local)
        return batch

    def _customer(self, batch: PlannedBatch, index: int, local: int) -> None:
        config = self.config
        rng = random.Random(f"clientvault-demo:{config.seed}:{index}")
        original = self.duplicates.originals.get(index)
        scale = 1.0
        if original is None:
            person = make_person(
                rng,
                self.pools,
                today=config.now.date(),
                default_region=config.default_region,
                emails=self.emails,
                phones=self.phones,
            )
            signup = signup_time(rng, self.start, self.horizon)
        else:
            first, first_signup = self.kept[original]
            person, kinds = make_duplicate(
                rng,
                first,
                default_region=config.default_region,
                emails=self.emails,
                phones=self.phones,
            )
            signup = first_signup + (self.horizon - first_signup) * rng.random()
            scale = DUPLICATE_ACTIVITY
            batch.duplicates.append((index, original, "+".join(kinds)))
        if index in self.duplicates.copied:
            self.kept[index] = (person, signup)
        batch.profiles.append(person.profile())
        batch.signups.append(signup)

        activity = simulate(
            rng,
            catalogue=self.catalogue,
            ids=self.ids,
            signup_at=signup,
            now=config.now,
            web_locale=person.country.web_locale,
            interests=list(person.traits.get("interests", ())),
            scale=scale,
        )
        user_id = f"demo-{config.seed}-u{index}"
        self._events(batch, activity, local, user_id, rng)
        self._orders(batch, activity, local)
        self._consents(batch, person, signup, local, rng)
        batch.stats.update(activity.stats)

    def _events(
        self,
        batch: PlannedBatch,
        activity: Activity,
        local: int,
        user_id: str,
        rng: random.Random,
    ) -> None:
        encode = self.codecs.events.encode
        customer_slot, anonymous_slot, user_slot = self._event_slots
        lag = timedelta(milliseconds=rng.randint(30, 2500))
        devices = activity.devices
        seen: dict[int, tuple[datetime, datetime]] = {}
        seed = self.config.seed
        for kind, name, at, device, properties, context in activity.events:
            self.events += 1
            row = encode(
                (
                    message_id(seed, self.events),
                    kind,
                    name,
                    None,
                    None,
                    None,
                    at,
                    at + lag,
                    SOURCE,
                    properties,
                    context,
                )
            )
            row[customer_slot] = local
            row[user_slot] = user_id
            if device >= 0:
                row[anonymous_slot] = devices[device]
                first, _ = seen.get(device, (at, at))
                seen[device] = (first, at)
            batch.events.append(row)
            batch.stats[f"event:{name or kind}"] += 1
        identity = self.codecs.identities.encode
        customer_slot, value_slot = self._identity_slots
        first_seen = batch.signups[local]
        last_seen = activity.last_seen or first_seen
        rows = [("user_id", user_id, first_seen, last_seen)]
        rows += [("anonymous_id", devices[d], first, last) for d, (first, last) in seen.items()]
        for kind, value, first, last in rows:
            row = identity((None, kind, None, SOURCE, first, last))
            row[customer_slot] = local
            row[value_slot] = value
            batch.identities.append(row)

    def _orders(self, batch: PlannedBatch, activity: Activity, local: int) -> None:
        encode_order, encode_item = self.codecs.orders.encode, self.codecs.items.encode
        product_ids = self.config.product_ids
        for order in activity.orders:
            row = encode_order(
                (
                    order.id,
                    order.external_id,
                    None,
                    order.status,
                    order.placed_at,
                    CURRENCY,
                    order.total,
                    order.refunded_amount,
                )
            )
            row[self._order_slot] = local
            batch.orders.append(row)
            for product, quantity in order.lines:
                returned = order.returned.get(product.sku, 0)
                batch.items.append(
                    encode_item(
                        (order.id, product_ids[product.sku], quantity, product.price, returned)
                    )
                )

    def _consents(
        self,
        batch: PlannedBatch,
        person: Person,
        signup: datetime,
        local: int,
        rng: random.Random,
    ) -> None:
        encode = self.codecs.consents.encode
        slot = self._consent_slot
        decisions = consent_history(
            rng,
            signup_at=signup,
            horizon=self.horizon,
            has_email=person.email is not None,
            has_phone=person.phone is not None,
            versions=self.versions,
        )
        for purpose, decision, at, version, channel in decisions:
            self.decisions += 1
            proof = f"demo-{self.config.seed}-consent{self.decisions}"
            row = encode((None, purpose, decision, at, version, channel, SOURCE, proof))
            row[slot] = local
            batch.consents.append(row)
            batch.stats[f"consent:{decision}"] += 1
