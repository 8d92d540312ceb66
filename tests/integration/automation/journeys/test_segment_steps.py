"""The add-to / remove-from static segment steps on the real parts (the segments domain's own
service records the change), and what a journey's save refuses: a segment step naming no
static segment, a webhook whose destination its calls would refuse."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from sqlalchemy import select, update

from clientvault.automation.journeys.engine import JOURNEY_CONSUMER, advance_due
from clientvault.automation.journeys.models import JourneyRun, JourneyStepLog
from clientvault.errors import InvalidInput
from clientvault.identity.models import Customer
from clientvault.ingest import consumers
from clientvault.ingest.models import Event
from clientvault.segments.membership import ENTERED, EXITED, change_static_members
from clientvault.segments.models import SegmentMember, SegmentMembership
from clientvault.segments.service import SegmentIn, get_segment, save_segment
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.journeys import ALWAYS, MARKETER, journey, sign_up, track

NOBODY = {"type": "attribute", "field": "city", "values": ["Nowhere"]}
EVERYONE_FR = {"type": "attribute", "field": "country", "values": ["FR"]}


def _segment(store: Store, slug: str, kind: str, rules: dict[str, Any] = NOBODY) -> None:
    with store.sessions.begin() as session:
        save_segment(
            session,
            SegmentIn(slug=slug, name=slug.title(), kind=kind, rules=rules),  # type: ignore[arg-type]
            principal=MARKETER,
            zone="UTC",
        )


def _members(store: Store, slug: str) -> set[Any]:
    with store.sessions() as session:
        segment = get_segment(session, slug)
        return set(
            session.scalars(
                select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment.id)
            )
        )


def test_a_journey_adds_to_and_removes_from_static_segments_once(
    db: Store, db_settings: Settings
) -> None:
    settings = db_settings.model_copy(update={"automation": ALWAYS})
    ada = sign_up(db, 1)
    bob = sign_up(db, 2)
    with db.sessions.begin() as session:
        session.execute(update(Customer).values(country="FR"))
    _segment(db, "vip", "static")
    _segment(db, "prospects", "static", EVERYONE_FR)  # the snapshot holds Ada and Bob
    assert _members(db, "prospects") == {ada, bob}
    journey(
        db,
        "Promote",
        {
            "trigger": {"kind": "event", "event": "Order Completed"},
            "steps": [
                {"id": "tag", "type": "add_to_segment", "segment": "vip"},
                {"id": "untag", "type": "remove_from_segment", "segment": "prospects"},
                {"id": "tag-again", "type": "add_to_segment", "segment": "vip"},
            ],
        },
    )
    track(db, "user-1", "Order Completed", {"order_id": "o-1", "total": 10})
    consumers.drain(db, JOURNEY_CONSUMER)
    advance_due(db, settings)
    advance_due(db, settings)  # nothing is due twice
    assert _members(db, "vip") == {ada}
    assert _members(db, "prospects") == {bob}
    with db.sessions() as session:
        vip = get_segment(session, "vip")
        assert (vip.size, get_segment(session, "prospects").size) == (1, 1)
        history = session.execute(
            select(SegmentMembership.customer_id, SegmentMembership.change).order_by(
                SegmentMembership.id
            )
        ).all()
        published = session.execute(
            select(Event.name, Event.properties["segment"].as_string())
            .where(Event.customer_id == ada, Event.name.in_((ENTERED, EXITED)))
            .order_by(Event.id)
        ).all()
        outcomes = session.scalars(
            select(JourneyStepLog.outcome)
            .join(JourneyRun, JourneyRun.id == JourneyStepLog.run_id)
            .order_by(JourneyStepLog.seq)
        ).all()
    # The prospects' snapshot entries, then Ada's entry into vip and exit from prospects.
    assert history[-2:] == [(ada, "entered"), (ada, "exited")]
    assert [tuple(row) for row in published][-2:] == [(ENTERED, "vip"), (EXITED, "prospects")]
    assert outcomes == ["added to segment", "removed from segment", "segment unchanged"]
    # The service itself: doing it again changes nothing and publishes nothing.
    with db.sessions.begin() as session:
        again = change_static_members(session, "vip", [ada], add=True)
    assert (again.entered, again.exited, again.size) == (0, 0, 1)


def test_a_segment_deleted_after_the_save_fails_the_run_visibly(
    db: Store, db_settings: Settings
) -> None:
    settings = db_settings.model_copy(update={"automation": ALWAYS})
    sign_up(db, 1)
    _segment(db, "vip", "static")
    journey(
        db,
        "Tag",
        {
            "trigger": {"kind": "event", "event": "Signed Up"},
            "steps": [{"id": "tag", "type": "add_to_segment", "segment": "vip"}],
        },
    )
    with db.sessions.begin() as session:
        session.delete(get_segment(session, "vip"))
    track(db, "user-1", "Signed Up")
    consumers.drain(db, JOURNEY_CONSUMER)
    advance_due(db, settings)
    with db.sessions() as session:
        (run,) = session.scalars(select(JourneyRun)).all()
    assert (run.status, run.outcome) == ("failed", "no such static segment")


def _step_journey(db: Store, step: dict[str, Any], **extra: Any) -> None:
    journey(
        db,
        "Checked",
        {"trigger": {"kind": "event", "event": "Signed Up"}, "steps": [step]},
        active=False,
        **extra,
    )


def test_a_segment_step_must_name_an_existing_static_segment(db: Store) -> None:
    sign_up(db, 1)
    _segment(db, "french", "dynamic", EVERYONE_FR)  # a rule's members: no step changes them
    with pytest.raises(InvalidInput, match=r"step 1 \('tag'\): segment: no segment 'nope'"):
        _step_journey(db, {"id": "tag", "type": "add_to_segment", "segment": "nope"})
    with pytest.raises(
        InvalidInput, match=r"step 1 \('untag'\): segment: segment 'french' is dynamic"
    ):
        _step_journey(db, {"id": "untag", "type": "remove_from_segment", "segment": "french"})
    with pytest.raises(InvalidInput, match=r"step 1 \('tag'\): segment: String should match"):
        _step_journey(db, {"id": "tag", "type": "add_to_segment", "segment": "Not A Slug"})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost:9000/hook",
        "http://api.localhost/hook",
    ],
)
def test_a_webhook_to_a_private_address_is_refused_at_save(db: Store, url: str) -> None:
    sign_up(db, 1)
    with pytest.raises(InvalidInput, match=r"step 1 \('hook'\): url: refused"):
        _step_journey(db, {"id": "hook", "type": "webhook", "url": url})


def test_webhook_hosts_are_resolved_at_save_when_they_can_be(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_up(db, 1)
    loopback = [ipaddress.ip_network("127.0.0.0/8")]
    # An allowed network lets a loopback receiver be saved.
    _step_journey(
        db,
        {"id": "hook", "type": "webhook", "url": "http://127.0.0.1:9/in"},
        webhook_networks=loopback,
    )
    resolved: dict[str, str] = {
        "intranet.example.com": "10.0.0.7",
        "hooks.example.com": "93.184.216.34",
    }

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in resolved:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (resolved[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(InvalidInput, match=r"step 1 \('hook'\): url: refused \(10\.0\.0\.7"):
        _step_journey(db, {"id": "hook", "type": "webhook", "url": "https://intranet.example.com/"})
    for n, url in enumerate(("https://hooks.example.com/in", "https://not-yet.example.invalid/")):
        # A public answer passes; a name that does not resolve now (offline, DNS not yet set
        # up) is accepted, and the call-time check stays the guard.
        journey(
            db,
            f"Saved {n}",
            {
                "trigger": {"kind": "event", "event": "Signed Up"},
                "steps": [{"id": "hook", "type": "webhook", "url": url}],
            },
            active=False,
        )
