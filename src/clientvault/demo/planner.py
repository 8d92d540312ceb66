"""Planning the demo data batch by batch: people (original or planted duplicates), what each
of them did, their consent decisions, and every row to write, already in driver form.

The planner needs no database and no key. Values only known when the batch is written carry
a placeholder that the writer fills in:

- ``customer_id``: the customer's position in the batch (ids come from
  ``create_prepared_customers``);
- ``events.id``, ``orders.id`` (and the order and event ids pointing at them): positions in
  the batch, replaced by ids the writer reserves (refunds must name their event's id);
- ``anonymous_index``, ``user_index`` and identities' ``value_index``: the raw identifier,
  blind-indexed by the writer (the index key never leaves the writing process).

That is what lets planning run in a second process. Determinism: each customer draws from a
``random.Random`` seeded with the run's seed and the customer's position, and positions are
planned in order, so a seed gives the same data whatever the batch size or process.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from clientvault.demo.behaviour import QUIET_BEFORE_NOW, Activity, simulate
from clientvault.demo.catalogue import CURRENCY, build_catalogue
from clientvault.demo.consents import consent_history, policies
from clientvault.demo.duplicates import make_duplicate, plan_duplicates
from clientvault.demo.people import Person, make_person, signup_time
from clientvault.demo.pools import build_pools
from clientvault.identity.models import CustomerIdentity
from clientvault.identity.profiles import PreparedProfile, prepare_profile
from clientvault.ingest.commerce.models import Order, OrderItem, OrderRefund
from clientvault.ingest.models import Event
from clientvault.ingest.tracking import EVENT_COLUMNS as INGESTED_COLUMNS
from clientvault.privacy.models import ConsentRecord
from clientvault.store.base import table_of
from clientvault.store.driver_sql import DialectRef, TableCodec

#: The demo covers this much history, ending now.
HISTORY = timedelta(days=730)
SOURCE = "demo"
#: Planted duplicate profiles come back less often than the person's main profile.
DUPLICATE_ACTIVITY = 0.5
_SEED_MASK = (1 << 64) - 1
#: The default ``PlanConfig.chunk_size``.
CHUNK_SIZE = 2000

#: An event row: its id (the demo plans ids) and what ingestion writes.
EVENT_COLUMNS = ("id", *INGESTED_COLUMNS)
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
REFUND_COLUMNS = ("order_id", "event_id", "amount", "refunded_at")
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
    #: Customers per transaction: no planned batch straddles two transactions.
    batch_size: int
    now: datetime
    default_region: str
    dialect: DialectRef
    #: SKU → ``products.id`` in the target database.
    product_ids: dict[str, int]
    #: Customers per planned batch at most (a transaction's customers arrive in batches this
    #: big, so that writing starts early and follows planning closely).
    chunk_size: int = CHUNK_SIZE


@dataclass(frozen=True)
class Codecs:
    """The row codecs of every table the demo fills besides ``customers``."""

    events: TableCodec
    orders: TableCodec
    items: TableCodec
    refunds: TableCodec
    consents: TableCodec
    identities: TableCodec

    @classmethod
    def load(cls, ref: DialectRef) -> Codecs:
        """Codecs for the dialect ``ref`` names."""
        dialect = ref.load()
        customer = ("customer_id",)
        return cls(
            events=TableCodec(
                table_of(Event),
                EVENT_COLUMNS,
                dialect,
                deferred=("id", "customer_id", "anonymous_index", "user_index"),
            ),
            orders=TableCodec(table_of(Order), ORDER_COLUMNS, dialect, deferred=("id", *customer)),
            items=TableCodec(table_of(OrderItem), ITEM_COLUMNS, dialect, deferred=("order_id",)),
            refunds=TableCodec(
                table_of(OrderRefund), REFUND_COLUMNS, dialect, deferred=("order_id", "event_id")
            ),
            consents=TableCodec(
                table_of(ConsentRecord), CONSENT_COLUMNS, dialect, deferred=customer
            ),
            identities=TableCodec(
                table_of(CustomerIdentity),
                IDENTITY_COLUMNS,
                dialect,
                deferred=("customer_id", "value_index"),
            ),
        )


@dataclass
class PlannedBatch:
    """Demo data for consecutive customers, all of them written in one transaction (which may
    hold several batches), rows in driver form with placeholders (see the module's docstring)
    for the writer to fill in."""

    start: int
    #: Validated and normalised here, in the planning process (``prepare_profile``).
    profiles: list[PreparedProfile] = field(default_factory=list)
    signups: list[datetime] = field(default_factory=list)
    #: (duplicate's position in the run, original's position, what changed)
    duplicates: list[tuple[int, int, str]] = field(default_factory=list)
    events: list[list[Any]] = field(default_factory=list)
    orders: list[list[Any]] = field(default_factory=list)
    items: list[list[Any]] = field(default_factory=list)
    refunds: list[list[Any]] = field(default_factory=list)
    consents: list[list[Any]] = field(default_factory=list)
    identities: list[list[Any]] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)


class _Ids:
    """The shop's own identifiers, unique in a run (and across seeds)."""

    def __init__(self, seed: int) -> None:
        self.prefix = f"demo-{seed}"
        self.counts: Counter[str] = Counter()

    def _next(self, kind: str) -> str:
        self.counts[kind] += 1
        return f"{self.prefix}-{kind}{self.counts[kind]}"

    def session(self) -> str:
        return self._next("s")

    def cart(self) -> str:
        return self._next("cart")

    def order(self) -> str:
        return self._next("o")

    def ticket(self) -> str:
        return self._next("t")


_EVENT_TIME = EVENT_COLUMNS.index("occurred_at")


def _in_time_order(batch: PlannedBatch) -> None:
    """Put a batch's events in time order (their ids, reserved in row order, then follow
    time within the batch, and index inserts are less scattered), keeping refunds pointing
    at their events."""
    rows = batch.events
    rows.sort(key=itemgetter(_EVENT_TIME))  # driver values of one type sort in time order
    moved = [0] * len(rows)
    for position, row in enumerate(rows):
        moved[row[0]] = position
        row[0] = position
    for refund in batch.refunds:
        refund[1] = moved[refund[1]]


def _converter(codec: TableCodec, column: str) -> Callable[[Any], Any]:
    def same(value: Any) -> Any:
        return value

    return codec.processor(column) or same


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
        self.ids = _Ids(config.seed)
        self.rng = random.Random()
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.kept: dict[int, tuple[Person, datetime]] = {}
        self.events = 0
        self.decisions = 0
        self._time = _converter(self.codecs.events, "occurred_at")
        self._json = _converter(self.codecs.events, "properties")
        self._contexts: dict[int, Any] = {}
        #: Events per name in the batch being planned (``event:<name>`` in its stats).
        self._names: Counter[str] = Counter()

    def batches(self) -> Iterator[PlannedBatch]:
        """Every batch of the run, in order: each transaction's customers (``batch_size``) in
        batches of ``chunk_size`` at most."""
        customers, size = self.config.customers, self.config.batch_size
        chunk = max(1, self.config.chunk_size)
        for start in range(0, customers, size):
            end = min(start + size, customers)
            for first in range(start, end, chunk):
                yield self.batch(first, min(chunk, end - first))

    def batch(self, start: int, count: int) -> PlannedBatch:
        """The batch of customers ``start`` to ``start + count - 1`` (call in order)."""
        batch = PlannedBatch(start=start)
        self._names.clear()
        for local in range(count):
            self._customer(batch, start + local, local)
        batch.stats.update({f"event:{name}": n for name, n in self._names.items()})
        _in_time_order(batch)
        return batch

    def _customer(self, batch: PlannedBatch, index: int, local: int) -> None:
        config = self.config
        rng = self.rng
        rng.seed(((config.seed & _SEED_MASK) << 32) | index)
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
        batch.profiles.append(
            prepare_profile(person.profile(), default_region=config.default_region)
        )
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
        first_event = len(batch.events)
        self._events(batch, activity, local, f"demo-{config.seed}-u{index}", signup)
        self._orders(batch, activity, local, first_event)
        self._consents(batch, person, signup, local)
        batch.stats.update(activity.stats)

    def _events(
        self, batch: PlannedBatch, activity: Activity, local: int, user_id: str, signup: datetime
    ) -> None:
        """Event rows (in ``EVENT_COLUMNS`` order) and the identifiers the events show."""
        convert_time, convert_json = self._time, self._json
        contexts = self._contexts  # a session's context is shared by its events
        contexts.clear()
        devices = activity.devices
        seen: dict[int, tuple[datetime, datetime]] = {}
        prefix = f"demo-{self.config.seed}-"  # message_id(seed, number), inlined
        number = self.events
        rows = batch.events
        append = rows.append
        names = self._names
        for kind, name, at, device, properties, context in activity.events:
            number += 1
            encoded_context = contexts.get(id(context))
            if encoded_context is None:
                encoded_context = contexts[id(context)] = convert_json(context)
            when = convert_time(at)  # received when it occurred: the demo is a backfill
            anonymous = None
            if device >= 0:
                anonymous = devices[device]
                earlier = seen.get(device)
                seen[device] = (at, at) if earlier is None else (earlier[0], at)
            append(
                [
                    len(rows),
                    f"{prefix}{number}",
                    kind,
                    name,
                    local,
                    anonymous,
                    user_id,
                    when,
                    when,
                    SOURCE,
                    convert_json(properties),
                    encoded_context,
                ]
            )
            names[name or kind] += 1
        self.events = number
        encode = self.codecs.identities.encode
        last_seen = activity.last_seen or signup
        identities = [("user_id", user_id, signup, last_seen)]
        identities += [
            ("anonymous_id", devices[d], first, last) for d, (first, last) in seen.items()
        ]
        for kind, value, first, last in identities:
            batch.identities.append(encode((local, kind, value, SOURCE, first, last)))

    def _orders(
        self, batch: PlannedBatch, activity: Activity, local: int, first_event: int
    ) -> None:
        """Order, order line and refund rows, consistent with the customer's events."""
        codecs = self.codecs
        product_ids = self.config.product_ids
        for order in activity.orders:
            number = len(batch.orders)
            batch.orders.append(
                codecs.orders.encode(
                    (
                        number,
                        order.external_id,
                        local,
                        order.status,
                        order.placed_at,
                        CURRENCY,
                        order.total,
                        order.refunded_amount,
                    )
                )
            )
            for product, quantity in order.lines:
                returned = order.returned.get(product.sku, 0)
                batch.items.append(
                    codecs.items.encode(
                        (number, product_ids[product.sku], quantity, product.price, returned)
                    )
                )
            if order.refund_event is not None and order.refunded_at is not None:
                event = first_event + order.refund_event
                batch.refunds.append(
                    codecs.refunds.encode((number, event, order.refunded_amount, order.refunded_at))
                )

    def _consents(self, batch: PlannedBatch, person: Person, signup: datetime, local: int) -> None:
        """The customer's consent ledger rows."""
        encode = self.codecs.consents.encode
        decisions = consent_history(
            self.rng,
            signup_at=signup,
            horizon=self.horizon,
            has_email=person.email is not None,
            has_phone=person.phone is not None,
            versions=self.versions,
        )
        prefix = f"demo-{self.config.seed}-consent"
        rows = batch.consents
        stats = batch.stats
        for purpose, decision, at, version, channel in decisions:
            self.decisions += 1
            proof = f"{prefix}{self.decisions}"
            rows.append(encode((local, purpose, decision, at, version, channel, SOURCE, proof)))
            stats[f"consent:{decision}"] += 1
