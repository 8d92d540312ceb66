"""Stored segments: membership and its history, the events published, the event consumer
(replays change nothing), static snapshots, preview, explain, k-anonymous counts, export
through the privacy layer."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from clientvault.errors import Conflict, InvalidInput, PermissionDenied
from clientvault.ingest.consumers import drain
from clientvault.ingest.models import Event
from clientvault.ingest.tracking import ingest
from clientvault.privacy.erasure import erase_customer
from clientvault.security.models import AuditEntry
from clientvault.security.principal import Principal
from clientvault.segments import rules as r
from clientvault.segments.export import EXPORT_ACTION, export_csv
from clientvault.segments.membership import CONSUMER, ENTERED, EXITED, refresh_all
from clientvault.segments.models import SegmentMembership, SegmentSize
from clientvault.segments.service import (
    SegmentIn,
    context,
    customer_segments,
    delete_segment,
    explain,
    get_segment,
    preview,
    save_segment,
    shown_count,
)
from clientvault.segments.traits import CONSUMER as TRAITS
from clientvault.store.context import Store
from support.privacy_core import DPO, decide, make_customers, person, prepare

MARKETER = Principal.user(
    uuid.uuid4(), role="marketer", permissions=frozenset({"customers:read", "segments:manage"})
)
ADMIN = Principal.user(
    uuid.uuid4(),
    role="admin",
    permissions=frozenset({"customers:read", "segments:manage", "pii:reveal", "pii:export"}),
)
CART = {
    "any": [
        {"type": "event", "event": {"name": "Product Added"}, "window": {"last_days": 30}},
        {"type": "attribute", "field": "city", "values": ["Nowhere"]},
    ]
}


def _track(store: Store, user: str, event: str, at: datetime | None = None) -> None:
    message = {
        "type": "track",
        "userId": user,
        "event": event,
        "messageId": f"m-{uuid.uuid4()}",
        "timestamp": (at or datetime.now(UTC)).isoformat(),
        "properties": {"category": "shoes"},
    }
    with store.sessions.begin() as session:
        ingest(session, store, source="test", messages=[message], default_region="FR")


def _events(store: Store, name: str) -> list[Event]:
    with store.sessions() as session:
        return list(session.scalars(select(Event).where(Event.name == name).order_by(Event.id)))


def test_event_driven_membership_history_and_replay(db: Store) -> None:
    prepare(db)
    _track(db, "u-1", "Page Viewed")
    with db.sessions.begin() as session:
        segment = save_segment(
            session,
            SegmentIn(slug="carts", name="Carts", rules=CART),
            principal=MARKETER,
            zone="Europe/Paris",
        )
        assert segment.size == 0
    drain(db, TRAITS)
    drain(db, CONSUMER)
    _track(db, "u-1", "Product Added")
    assert drain(db, CONSUMER) == 0  # never ahead of the computed traits' consumer
    drain(db, TRAITS)
    assert drain(db, CONSUMER) > 0
    entered = _events(db, ENTERED)
    assert len(entered) == 1
    assert entered[0].properties["segment"] == "carts"
    customer = entered[0].customer_id
    assert customer is not None
    with db.sessions() as session:
        assert [s.slug for s, _ in customer_segments(session, customer)] == ["carts"]
        assert get_segment(session, "carts").size == 1
        history = list(session.scalars(select(SegmentMembership)))
        assert [(h.customer_id, h.change) for h in history] == [(customer, "entered")]
        assert session.scalars(select(SegmentSize.size)).all() == [1]
    # A replay of the whole log (a worker crash before the cursor moved) changes nothing.
    with db.sessions.begin() as session:
        from clientvault.segments.membership import handle

        handle(session, db, _events(db, "Product Added"))
    refresh_all(db)
    assert len(_events(db, ENTERED)) == 1
    # Time passes: the refresh job takes the customer out, and says so on the log.
    refresh_all(db, now=datetime.now(UTC) + timedelta(days=31))
    exited = _events(db, EXITED)
    assert [e.customer_id for e in exited] == [customer]
    with db.sessions() as session:
        changes = session.scalars(select(SegmentMembership.change).order_by(SegmentMembership.id))
        assert list(changes) == ["entered", "exited"]
        assert get_segment(session, "carts").size == 0


def test_static_snapshot_is_kept_and_segments_refer_to_segments(db: Store) -> None:
    prepare(db)
    a, b = make_customers(db, person(1), person(2))
    lyon = {"type": "attribute", "field": "city", "values": ["Lyon"]}
    with db.sessions.begin() as session:
        save_segment(
            session,
            SegmentIn(slug="lyon-then", name="Lyon then", kind="static", rules=lyon),
            principal=MARKETER,
            zone="UTC",
        )
        save_segment(
            session,
            SegmentIn(
                slug="within",
                name="Within",
                rules={"type": "segment", "segment": "lyon-then"},
            ),
            principal=MARKETER,
            zone="UTC",
        )
    (c,) = make_customers(db, person(3))
    refresh_all(db)
    with db.sessions() as session:
        assert get_segment(session, "lyon-then").size == 2  # c came later: not in the snapshot
        assert get_segment(session, "within").size == 2
    # A cycle through another segment is refused, naming it.
    with (
        db.sessions.begin() as session,
        pytest.raises(InvalidInput, match="cycle: lyon-then → within → lyon-then"),
    ):
        save_segment(
            session,
            SegmentIn(
                slug="lyon-then",
                name="x",
                kind="static",
                rules={"type": "segment", "segment": "within"},
            ),
            principal=MARKETER,
            zone="UTC",
            replace=True,
        )
    with db.sessions.begin() as session:
        with pytest.raises(Conflict):
            delete_segment(session, "lyon-then")
        with pytest.raises(Conflict):
            save_segment(
                session,
                SegmentIn(slug="within", name="W", rules=lyon),
                principal=MARKETER,
                zone="UTC",
            )
    # An erased customer leaves every segment at the next evaluation, and never reappears.
    with db.sessions.begin() as session:
        erase_customer(session, db, customer_id=a, principal=DPO, reason="test")
    refresh_all(db)
    with db.sessions() as session:
        assert get_segment(session, "within").size == 1
        assert customer_segments(session, b)[0][0].slug in {"lyon-then", "within"}
        assert customer_segments(session, c) == []


def test_preview_explain_and_small_counts(db: Store) -> None:
    prepare(db)
    a, b, c = make_customers(db, person(1), person(2), person(3))
    decide(db, a, "marketing_email", "granted")
    decide(db, b, "marketing_email", "granted")
    rule = r.parse_rules(
        {
            "all": [
                {"type": "attribute", "field": "country", "values": ["FR"]},
                {"type": "consent", "purpose": "marketing_email"},
                {"not": {"type": "attribute", "field": "language", "values": ["de"]}},
            ]
        }
    )
    with db.sessions() as session:
        ctx = context(session, zone="UTC")
        found = preview(session, rule, ctx)
        assert (found.size, found.total) == (2, 3)
        assert [(s.alone, s.cumulative) for s in found.steps] == [(3, 3), (2, 2), (3, 2)]
        assert found.steps[1].label == "consent for marketing_email is granted"
        why = explain(session, rule, ctx, c)
        assert not why.holds
        assert [child.holds for child in why.children] == [True, False, True]
        assert why.children[2].children[0].holds is False
        assert explain(session, rule, ctx, a).holds
        # Empty groups: everyone, no one.
        assert preview(session, r.parse_rules({"all": []}), ctx).size == 3
        assert preview(session, r.parse_rules({"any": []}), ctx).size == 0
    assert shown_count(3, principal=MARKETER, min_group_size=10) == "< 10"
    assert shown_count(0, principal=MARKETER, min_group_size=10) == "0"
    assert shown_count(3, principal=ADMIN, min_group_size=10) == "3"
    assert shown_count(12, principal=MARKETER, min_group_size=10) == "12"


def test_export_goes_through_the_audience_and_is_audited(db: Store) -> None:
    prepare(db)
    a, b, _ = make_customers(db, person(1), person(2), person(3))
    decide(db, a, "marketing_email", "granted")
    decide(db, b, "marketing_email", "granted")
    decide(db, b, "marketing_email", "withdrawn")
    with db.sessions.begin() as session:
        segment = save_segment(
            session,
            SegmentIn(slug="everyone", name="Everyone", rules={"all": []}),
            principal=MARKETER,
            zone="UTC",
        )
        assert segment.size == 3
        with pytest.raises(PermissionDenied, match="minimum group size"):
            export_csv(
                session,
                db,
                segment,
                purpose="marketing_email",
                principal=MARKETER,
                min_group_size=10,
            )
        with pytest.raises(PermissionDenied, match="pii:export"):
            export_csv(
                session,
                db,
                segment,
                purpose="marketing_email",
                principal=MARKETER,
                min_group_size=1,
                identifiers=True,
            )
        text = export_csv(
            session, db, segment, purpose="marketing_email", principal=MARKETER, min_group_size=1
        )
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [row["customer_id"] for row in rows] == [str(a)]  # b withdrew, c never agreed
        with_mail = export_csv(
            session,
            db,
            segment,
            purpose="marketing_email",
            principal=ADMIN,
            min_group_size=10,
            identifiers=True,
        )
        assert "person.1@example.com" in with_mail
    with db.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == EXPORT_ACTION)
        ).all()
        assert len(entries) == 2
        assert entries[0].details["rows"] == 1
        assert entries[0].target_id == str(a)
