"""The demo generator on a real database: deterministic per seed, internally consistent,
consistent with the commerce consumer, and never storing an identifier in the clear."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from clientvault.demo.generator import has_demo_data
from clientvault.demo.summary import DemoSummary
from clientvault.demo.truth import read_truth
from clientvault.errors import Conflict
from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.identity.profiles import reveal_identifiers
from clientvault.ingest.commerce import consumer as commerce
from clientvault.ingest.commerce.models import Order, OrderItem, OrderRefund, Product
from clientvault.ingest.consumers import drain
from clientvault.ingest.models import Event
from clientvault.migrations.install import initialise
from clientvault.privacy.models import ConsentRecord
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store

CUSTOMERS = 150  # the ``generate`` fixture's default
Generate = Callable[..., DemoSummary]
PURPOSES = {
    "marketing_email",
    "marketing_sms",
    "personalisation",
    "analytics",
    "profiling",
    "sale_share",
}


def _count(db: Store, model: type[object]) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_seed_gives_the_same_data_anywhere_and_another_seed_other_data(
    db: Store,
    tmp_path: Path,
    generate: Generate,
    digest: Callable[[Store], str],
    content: Callable[[Store], dict[str, Any]],
) -> None:
    generate(db, seed=11, customers=120)
    ours = digest(db)
    twin = initialise(Settings(env="test", data_dir=tmp_path / "twin"))
    other = initialise(Settings(env="test", data_dir=tmp_path / "other"))
    try:
        # Planned in a second process, on SQLite, with other batch boundaries: same content.
        generate(twin, seed=11, customers=120, parallel=True, batch_size=50)
        assert digest(twin) == ours
        generate(other, seed=12, customers=120)
        assert digest(other) != ours
        assert content(other)["customers"] != content(db)["customers"]
    finally:
        twin.close()
        other.close()


def test_counts_match_the_summary_and_the_volumes_are_plausible(
    db: Store, generate: Generate
) -> None:
    summary = generate(db, seed=21)
    assert summary.customers == _count(db, Customer) == CUSTOMERS
    assert summary.events == _count(db, Event)
    assert summary.orders == _count(db, Order)
    assert summary.order_items == _count(db, OrderItem)
    assert summary.refunded_orders == _count(db, OrderRefund)
    assert summary.consent_grants + summary.consent_withdrawals == _count(db, ConsentRecord)
    assert summary.products == _count(db, Product) > 50
    assert 8 <= summary.events / CUSTOMERS <= 30
    assert summary.abandoned_carts > 0
    assert summary.support_tickets > 0
    assert summary.consent_withdrawals > 0
    assert sum(summary.events_by_name.values()) == summary.events
    for name in ("Product Viewed", "Order Completed", "CSAT Survey Answered", "identify", "Home"):
        assert summary.events_by_name.get(name, 0) > 0, name
    assert "150 customers" in summary.describe()
    with db.sessions() as session:
        per_customer = sorted(Counter(session.scalars(select(Event.customer_id))).values())
    assert len(per_customer) == CUSTOMERS
    mean = summary.events / CUSTOMERS
    assert per_customer[CUSTOMERS // 2] < mean < per_customer[-1] / 3  # heavy-tailed


def test_orders_lines_refunds_and_events_agree(db: Store, generate: Generate) -> None:
    generate(db, seed=31)
    with db.sessions() as session:
        orders = list(session.scalars(select(Order)))
        skus = dict(session.execute(select(Product.id, Product.sku)).all())
        lines: dict[int, list[OrderItem]] = defaultdict(list)
        for item in session.scalars(select(OrderItem)):
            lines[item.order_id].append(item)
        events = list(session.scalars(select(Event).where(Event.name.like("Order %"))))
        refunds = {r.order_id: r for r in session.scalars(select(OrderRefund))}
    completed = {e.properties["order_id"]: e for e in events if e.name == "Order Completed"}
    refund_events = {e.id: e for e in events if e.name == "Order Refunded"}
    assert orders
    assert set(completed) == {o.external_id for o in orders}
    assert len(refunds) == len(refund_events) > 0
    for order in orders:
        items = lines[order.id]
        assert items, order.external_id
        assert order.total == sum(i.unit_price * i.quantity for i in items)
        returned = sum((i.unit_price * i.returned_quantity for i in items), Decimal("0"))
        assert order.refunded_amount == returned
        assert all(0 <= i.returned_quantity <= i.quantity for i in items)
        if not returned:
            assert order.status == "completed"
        else:
            full = returned == order.total
            assert order.status == ("refunded" if full else "partially_refunded")
        event = completed[order.external_id]
        assert event.customer_id == order.customer_id
        assert event.occurred_at == order.placed_at
        assert Decimal(str(event.properties["total"])) == order.total
        assert event.properties["currency"] == order.currency == "EUR"
        assert sorted((p["sku"], p["quantity"]) for p in event.properties["products"]) == sorted(
            (skus[i.product_id], i.quantity) for i in items
        )
        refund = refunds.get(order.id)
        assert (refund is not None) == (returned > 0)
        if refund is not None:
            refund_event = refund_events[refund.event_id]
            assert refund_event.properties["order_id"] == order.external_id
            assert refund.amount == order.refunded_amount
            assert refund.refunded_at == refund_event.occurred_at
            assert refund.refunded_at > order.placed_at


def test_the_commerce_consumer_replaying_the_demo_events_changes_nothing(
    db: Store, generate: Generate
) -> None:
    generate(db, seed=41)

    def snapshot() -> tuple[object, ...]:
        with db.sessions() as session:
            return tuple(
                sorted(session.execute(query).all())
                for query in (
                    select(Order.external_id, Order.status, Order.total, Order.refunded_amount),
                    select(OrderItem.id, OrderItem.quantity, OrderItem.returned_quantity),
                    select(OrderRefund.event_id, OrderRefund.amount),
                    select(Product.sku, Product.name, Product.price),
                )
            )

    before = snapshot()
    assert drain(db, commerce.CONSUMER) == _count(db, Event)
    assert snapshot() == before


def test_events_are_linked_timed_and_free_of_personal_data(
    db: Store, generate: Generate, demo_now: datetime, reader: Principal
) -> None:
    summary = generate(db, seed=51)
    with db.sessions() as session:
        customers = set(session.scalars(select(Customer.id)))
        events = list(session.scalars(select(Event)))
        people = reveal_identifiers(
            session, db, principal=reader, customer_ids=customers, reason="test"
        )
    assert {e.customer_id for e in events} == customers
    assert len({e.message_id for e in events}) == len(events) == summary.events
    assert all(e.message_id.startswith("demo-51-") for e in events)
    assert all(e.occurred_at.tzinfo is not None for e in events)
    assert all(e.occurred_at < demo_now for e in events)
    assert all(e.source == "demo" for e in events)
    assert all(e.user_index is not None for e in events)
    assert {e.type for e in events} == {"identify", "track", "page"}
    pages = [e for e in events if e.type == "page"]
    assert all({"url", "path", "title", "referrer"} <= set(e.properties) for e in pages)
    assert len({e.context["session_id"] for e in pages}) >= CUSTOMERS
    personal = {
        value.lower()
        for person in people.values()
        for value in (person.email, person.phone, person.last_name, person.street_address)
        if value and len(value) > 5
    }
    for event in events:
        text = f"{event.properties} {event.context}".lower()
        assert "@" not in text
        assert not any(value in text for value in personal), event.name


def test_identifiers_date_from_sign_up_and_match_the_events(db: Store, generate: Generate) -> None:
    generate(db, seed=55, batch_size=64)  # transactions of several planned batches
    with db.sessions() as session:
        customers = {c.id: c for c in session.scalars(select(Customer))}
        events: dict[uuid.UUID, list[Event]] = defaultdict(list)
        for event in session.scalars(select(Event)):
            assert event.customer_id is not None
            events[event.customer_id].append(event)
        identities: dict[uuid.UUID, list[CustomerIdentity]] = defaultdict(list)
        for identity in session.scalars(select(CustomerIdentity)):
            identities[identity.customer_id].append(identity)
    assert set(events) == set(identities) == set(customers)
    for customer_id, customer in customers.items():
        times = [e.occurred_at for e in events[customer_id]]
        assert customer.created_at == customer.updated_at <= min(times)
        by_kind: dict[str, list[CustomerIdentity]] = defaultdict(list)
        for identity in identities[customer_id]:
            assert identity.source == "demo"
            by_kind[identity.kind].append(identity)
        for kind, index in (("email", customer.email_index), ("phone", customer.phone_index)):
            found = [(i.value_index, i.first_seen_at, i.last_seen_at) for i in by_kind[kind]]
            created = customer.created_at
            assert found == ([] if index is None else [(index, created, created)]), kind
        [user] = by_kind["user_id"]
        assert {e.user_index for e in events[customer_id]} == {user.value_index}
        assert (user.first_seen_at, user.last_seen_at) == (customer.created_at, max(times))
        devices: dict[bytes, list[datetime]] = defaultdict(list)
        for event in events[customer_id]:
            if event.anonymous_index is not None:
                devices[event.anonymous_index].append(event.occurred_at)
        seen = {i.value_index: (i.first_seen_at, i.last_seen_at) for i in by_kind["anonymous_id"]}
        assert seen == {device: (min(at), max(at)) for device, at in devices.items()}


def test_carts_tickets_and_surveys_behave_like_a_shop(db: Store, generate: Generate) -> None:
    generate(db, seed=61)
    by_name: dict[str, list[Event]] = defaultdict(list)
    with db.sessions() as session:
        for event in session.scalars(select(Event).where(Event.type == "track")):
            by_name[event.name or ""].append(event)
    carts = {e.properties["cart_id"] for e in by_name["Product Added"]}
    bought = {e.properties["checkout_id"] for e in by_name["Order Completed"]}
    assert bought < carts  # every order had a cart, and some carts were abandoned
    opened = {e.properties["ticket_id"]: e for e in by_name["Support Ticket Opened"]}
    categories = {e.properties["category"] for e in opened.values()}
    assert categories <= {"billing", "delivery", "product", "account", "returns"}
    assert all(e.properties["channel"] for e in opened.values())
    closed = {e.properties["ticket_id"]: e for e in by_name["Support Ticket Closed"]}
    assert set(closed) <= set(opened)
    assert all(closed[t].occurred_at > opened[t].occurred_at for t in closed)
    surveys = by_name["CSAT Survey Answered"]
    assert surveys
    for survey in surveys:
        assert survey.properties["score"] in {1, 2, 3, 4, 5}
        assert survey.occurred_at > closed[survey.properties["ticket_id"]].occurred_at


def test_consent_withdrawals_come_after_grants(db: Store, generate: Generate) -> None:
    generate(db, seed=71)
    with db.sessions() as session:
        records = list(session.scalars(select(ConsentRecord).order_by(ConsentRecord.recorded_at)))
    assert {r.purpose for r in records} == PURPOSES
    assert len({r.policy_version for r in records}) >= 2
    assert len({r.channel for r in records}) >= 4
    granted: dict[tuple[uuid.UUID, str], datetime] = {}
    withdrawals = 0
    for record in records:
        key = (record.customer_id, record.purpose)
        if record.decision == "granted":
            granted[key] = record.recorded_at
        else:
            withdrawals += 1
            assert key in granted
            assert record.recorded_at > granted[key]
    assert withdrawals > 0


def test_planted_duplicates_are_real_profiles_and_written_down(
    db: Store, db_settings: Settings, generate: Generate, reader: Principal
) -> None:
    truth = db_settings.data_dir / "demo" / "duplicates.csv"
    summary = generate(db, seed=81, truth_path=truth)
    pairs = read_truth(truth)
    assert pairs == summary.duplicates
    assert summary.truth_path == truth
    assert 2 <= len(pairs) <= 20  # about 5 % of 150
    header = truth.read_text(encoding="utf-8").splitlines()[0]
    assert header == "customer_id,duplicate_of_customer_id,kind_of_change"
    with db.sessions() as session:
        rows = {c.id: c for c in session.scalars(select(Customer))}
        people = reveal_identifiers(
            session, db, principal=reader, customer_ids=list(rows), reason="test"
        )
        identities = Counter(
            session.execute(select(CustomerIdentity.kind, CustomerIdentity.value_index))
        )
    for pair in pairs:
        copy, first = rows[pair.customer_id], rows[pair.duplicate_of_customer_id]
        assert copy.created_at >= first.created_at
        assert copy.country == first.country
        kinds = set(pair.kind_of_change.split("+"))
        a, b = people[copy.id], people[first.id]
        if "names_swapped" in kinds:
            assert (a.first_name, a.last_name) == (b.last_name, b.first_name)
        if "email_case" in kinds:
            assert copy.email_index == first.email_index
            assert a.email == b.email  # normalised
        if "email_alias" in kinds:
            assert a.email is not None
            assert b.email is not None
            assert a.email.replace("+", "@").split("@")[0] == b.email.split("@")[0]
        if not kinds & {"phone_missing", "phone_changed"}:
            assert copy.phone_index == first.phone_index
        if kinds == {"exact_copy"}:
            assert a == b
    # Apart from planted duplicates, nobody shares an e-mail address or a phone number.
    shared = {value for (_, value), count in identities.items() if count > 1}
    planted = {rows[p.customer_id].email_index for p in pairs}
    planted |= {rows[p.customer_id].phone_index for p in pairs}
    assert shared <= planted


def test_the_same_seed_twice_is_refused_and_another_seed_adds_to_it(
    db: Store, generate: Generate
) -> None:
    assert not has_demo_data(db, seed=91)
    first = generate(db, seed=91, customers=30)
    assert has_demo_data(db, seed=91)
    assert not has_demo_data(db, seed=92)
    with pytest.raises(Conflict):
        generate(db, seed=91, customers=30)
    second = generate(db, seed=92, customers=30)
    assert _count(db, Customer) == 60
    assert first.products == second.products == _count(db, Product)  # the catalogue is shared
    with db.sessions.begin() as session:  # the ids the demo reserved leave the sequences usable
        order = Order(external_id="after-demo", placed_at=utcnow(), total=Decimal("1.00"))
        event = Event(message_id="after-demo", type="track", name="x", occurred_at=utcnow())
        session.add_all([order, event])
        session.flush()
        assert order.id > 0
        assert event.id > 0


def test_progress_is_reported_per_batch(db: Store, generate: Generate) -> None:
    calls: list[int] = []
    generate(db, seed=101, customers=150, batch_size=64, progress=calls.append)
    assert calls == [64, 64, 22]


def test_no_identifier_lands_in_the_sqlite_files_in_the_clear(
    db: Store,
    db_settings: Settings,
    generate: Generate,
    reader: Principal,
    sqlite_files: Callable[[Path], list[Path]],
) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("scans the SQLite files")
    generate(db, seed=111)
    with db.sessions() as session:
        ids = list(session.scalars(select(Customer.id)))
        people = reveal_identifiers(session, db, principal=reader, customer_ids=ids, reason="test")
    emails = [p.email for p in people.values() if p.email]
    phones = [p.phone for p in people.values() if p.phone]
    assert len(emails) > CUSTOMERS * 0.9
    assert len(phones) > CUSTOMERS / 2
    db.close()
    raw = b"".join(path.read_bytes() for path in sqlite_files(db_settings.data_dir))
    assert len(raw) > 100_000
    for value in emails + phones:
        for form in {value, value.lower(), value.upper()}:
            assert form.encode() not in raw, "an identifier is stored in the clear"
