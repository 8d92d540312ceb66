"""The date triggers, evaluated by a scheduled job: a birthday, or N days after the last order.

"Today" is the customer's: their ``timezone`` trait (an IANA name such as ``Europe/Paris``,
sent with ``identify`` like any custom trait) when it names a known zone, else the
installation's (``settings.timezone``). The job groups people by zone, so a birthday in
Auckland starts at the trigger's hour in Auckland while it is still the day before in Paris.
A birthday run's entry key is the customer's local date, a last-order run's the order's local
date: each qualifying date starts a person's run once, however often the job runs that day;
the journey's re-entry rule applies on top (``engine.start_run``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from clientvault.automation.journeys import engine
from clientvault.automation.journeys.definition import DateTrigger
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order
from clientvault.segments.compiler import live_customers
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store

#: The custom trait naming a customer's time zone.
ZONE_TRAIT = "timezone"


def _zone_of_customer() -> ColumnElement[str]:
    trait: ColumnElement[str] = Customer.traits[ZONE_TRAIT].as_string()
    return trait


def customer_zones(session: Session) -> dict[str, ZoneInfo]:
    """The known time zones customers' ``timezone`` traits name (unknown names are ignored:
    those customers are in the installation's zone)."""
    found: dict[str, ZoneInfo] = {}
    trait = _zone_of_customer()
    for name in session.scalars(select(trait).where(trait.is_not(None)).distinct()):
        try:
            found[name] = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return found


def zone_groups(
    session: Session, installation: ZoneInfo
) -> list[tuple[ZoneInfo, ColumnElement[bool]]]:
    """Each time zone customers live in, with the test picking its customers: first the
    installation's (no trait, or one naming no known zone), then one per named zone."""
    named = customer_zones(session)
    trait = _zone_of_customer()
    groups: list[tuple[ZoneInfo, ColumnElement[bool]]] = [
        (installation, or_(trait.is_(None), trait.not_in(list(named))))
    ]
    groups.extend((zone, trait == name) for name, zone in sorted(named.items()))
    return groups


def start_date_runs(store: Store, settings: Settings, *, now: datetime | None = None) -> int:
    """Start the date-triggered journeys' runs due today in each customer's time zone, once
    the trigger's hour has come there; returns how many started."""
    moment = now or utcnow()
    started = 0
    with store.sessions.begin() as session:
        journeys = [
            (journey, definition)
            for journey, definition in engine.active_journeys(session)
            if isinstance(definition.trigger, DateTrigger)
        ]
        if not journeys:
            return 0
        groups = zone_groups(session, settings.zone)
        for journey, definition in journeys:
            trigger = definition.trigger
            assert isinstance(trigger, DateTrigger)
            for zone, in_zone in groups:
                local = moment.astimezone(zone)
                if local.hour < trigger.at_hour:
                    continue
                day = local.date() - timedelta(days=trigger.offset_days)
                if trigger.attribute == "birthday":
                    people = select(Customer.id).where(
                        Customer.birthday.in_(birthdays_on(day)),
                        Customer.status == "active",
                        in_zone,
                    )
                    entry_key = f"date:{local.date().isoformat()}"
                else:
                    people = last_ordered_on(day, zone).where(in_zone)
                    entry_key = f"last_order:{day.isoformat()}"
                for customer_id in session.scalars(people):
                    run = engine.start_run(
                        session,
                        journey,
                        definition,
                        customer_id=customer_id,
                        entry_key=entry_key,
                        now=moment,
                    )
                    started += run is not None
    return started


def last_ordered_on(day: date, zone: ZoneInfo) -> Select[uuid.UUID]:
    """The people whose latest order was placed on ``day`` (in ``zone``): each person is the
    profile their merged profiles point to, their orders counted together; fully refunded
    orders do not count, erased profiles' orders have no customer any more, and the person
    must be live (``segments.compiler.live_customers``: neither merged away nor erased).

    The orders of that day are found by ``ORDERS_BY_TIME``, and for each of their people
    "no later order" is two index lookups (theirs, and their merged profiles'): the cost
    follows the day's orders, not the whole order table."""
    start = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    counted = Order.status != "refunded"
    buyer = aliased(Customer)
    ordered_that_day = (
        select(func.coalesce(buyer.merged_into_id, buyer.id))
        .select_from(Order)
        .join(buyer, buyer.id == Order.customer_id)
        .where(Order.placed_at >= start, Order.placed_at < end, counted)
    )
    later_own = exists(
        select(Order.id).where(Order.customer_id == Customer.id, Order.placed_at >= end, counted)
    )
    absorbed = aliased(Customer)
    later_merged = exists(
        select(Order.id)
        .join(absorbed, absorbed.id == Order.customer_id)
        .where(absorbed.merged_into_id == Customer.id, Order.placed_at >= end, counted)
    )
    return (
        select(Customer.id)
        .where(Customer.id.in_(ordered_that_day), ~later_own, ~later_merged, live_customers())
        .order_by(Customer.id)
    )


def birthdays_on(day: date) -> list[str]:
    """The ``MM-DD`` birthdays celebrated on ``day`` (29 February on the 28th in other years)."""
    days = [day.strftime("%m-%d")]
    if day.month == 2 and day.day == 28 and not _leap(day.year):
        days.append("02-29")
    return days


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
