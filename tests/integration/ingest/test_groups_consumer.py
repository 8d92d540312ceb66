"""``group`` calls keep their group id and traits, and the groups consumer folds them into
groups and memberships: newest traits win, replays change nothing, traits are queryable as
JSON on both backends, and export and erasure reach the memberships."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from clientvault.identity.models import CustomerIdentity
from clientvault.ingest import groups
from clientvault.ingest.consumers import drain
from clientvault.ingest.models import ConsumerCursor, Event, Group, GroupMember
from clientvault.ingest.scrub import SCRUB_TOKEN
from clientvault.ingest.tracking import ingest
from clientvault.privacy.erasure import erase_customer
from clientvault.privacy.export import export_customer
from clientvault.store.context import Store
from support.privacy_core import DPO, prepare

CONTACT = "ops.lead@acme.example.com"
OWNER = "u1.owner@example.com"  # u1's own e-mail, also named as beta's owner


def _group(message_id: str, user: str, group: str, when: str, **traits: Any) -> dict[str, Any]:
    return {
        "type": "group",
        "userId": user,
        "groupId": group,
        "traits": traits,
        "timestamp": when,
        "messageId": message_id,
    }


CALLS = [
    {"type": "identify", "userId": "u1", "traits": {"email": OWNER}, "messageId": "i1"},
    {"type": "identify", "userId": "u2", "traits": {"plan": "y"}, "messageId": "i2"},
    _group(
        "g1",
        "u1",
        "acme",
        "2026-03-02T10:00:00Z",
        name="Acme Ltd",
        plan="enterprise",
        employees=120,
        contact=CONTACT,
    ),
    # Older than g1, sent later: fills what acme lacks, overrides nothing.
    _group("g2", "u2", "acme", "2026-03-01T10:00:00Z", plan="pro", industry="retail"),
    _group("g3", "u1", "beta", "2026-03-03T10:00:00Z", name="Beta", employees=8, owner=OWNER),
]


def _send(db: Store, messages: list[dict[str, Any]]) -> None:
    with db.sessions.begin() as session:
        result = ingest(session, db, source="web", messages=messages, default_region="FR")
    assert not result.rejected, result.rejected


def _snapshot(db: Store) -> tuple[Any, ...]:
    with db.sessions() as session:
        found = {
            g.group_key: (g.traits, g.first_seen_at, g.last_seen_at)
            for g in session.scalars(select(Group))
        }
        members = sorted(
            (key, str(customer), first, last)
            for key, customer, first, last in session.execute(
                select(
                    Group.group_key,
                    GroupMember.customer_id,
                    GroupMember.first_seen_at,
                    GroupMember.last_seen_at,
                ).join(Group, Group.id == GroupMember.group_id)
            )
        )
    return found, members


def _customer(db: Store, user: str) -> Any:
    with db.sessions() as session:
        return session.scalar(
            select(CustomerIdentity.customer_id).where(
                CustomerIdentity.kind == "user_id",
                CustomerIdentity.value_index == db.index("user_id", user),
            )
        )


def test_group_calls_become_groups_with_their_newest_traits_and_members(db: Store) -> None:
    _send(db, CALLS)
    with db.sessions() as session:
        stored = session.scalar(select(Event.properties).where(Event.message_id == "g1"))
    assert stored is not None
    assert stored["groupId"] == "acme"
    contact = stored["traits"].pop("contact")
    assert stored["traits"] == {"name": "Acme Ltd", "plan": "enterprise", "employees": 120}
    assert SCRUB_TOKEN.fullmatch(contact), "an e-mail in group traits must be scrubbed"

    assert drain(db, groups.CONSUMER) > 0
    found, members = _snapshot(db)
    assert found["acme"][0] == {
        "name": "Acme Ltd",
        "plan": "enterprise",
        "employees": 120,
        "contact": contact,
        "industry": "retail",
    }
    assert found["acme"][1:] == (
        datetime(2026, 3, 1, 10, tzinfo=UTC),
        datetime(2026, 3, 2, 10, tzinfo=UTC),
    )
    u1, u2 = _customer(db, "u1"), _customer(db, "u2")
    assert [(key, customer) for key, customer, _, _ in members] == sorted(
        [("acme", str(u1)), ("acme", str(u2)), ("beta", str(u1))]
    )

    # Replaying the whole log changes nothing.
    with db.sessions.begin() as session:
        session.execute(
            update(ConsumerCursor).where(ConsumerCursor.name == "groups").values(position=0)
        )
    drain(db, groups.CONSUMER)
    assert _snapshot(db) == (found, members)

    with db.sessions() as session:
        # What a B2B segment asks: customers whose company has more than 50 seats.
        big = select(Group.id).where(Group.traits["employees"].as_integer() > 50)
        in_big = session.scalars(
            select(GroupMember.customer_id).where(GroupMember.group_id.in_(big))
        ).all()
        assert sorted(map(str, in_big)) == sorted([str(u1), str(u2)])
        seen = groups.groups_of(session, [u1])
    assert [(g.group_id, g.traits.get("name")) for g in seen] == [
        ("beta", "Beta"),
        ("acme", "Acme Ltd"),
    ]


def test_a_membership_is_exported_and_erased_with_its_customer(db: Store) -> None:
    prepare(db)
    _send(db, CALLS)
    drain(db, groups.CONSUMER)
    u1, u2 = _customer(db, "u1"), _customer(db, "u2")
    with db.sessions.begin() as session:
        document = export_customer(
            session, db, customer_id=u1, principal=DPO, reason="access request"
        )
    [holder] = [h for h in document["holders"] if h["name"] == "ingest.group_members"]
    assert sorted(r["group_id"] for r in holder["records"]) == ["acme", "beta"]
    assert {r["customer_id"] for r in holder["records"]} == {str(u1)}

    with db.sessions() as session:
        before = {g.group_key: g.traits for g in session.scalars(select(Group))}
    assert SCRUB_TOKEN.fullmatch(before["beta"]["owner"])

    with db.sessions.begin() as session:
        report = erase_customer(
            session, db, customer_id=u1, principal=DPO, reason="erasure request"
        )
    assert report.holders["ingest.group_members"].rows == 2
    with db.sessions() as session:
        left = session.execute(select(GroupMember.customer_id)).scalars().all()
        assert left == [u2]  # the other member stays, and so do both groups
        after = {g.group_key: g.traits for g in session.scalars(select(Group))}
    # The token of the erased person's e-mail loses its hash; someone else's stays.
    assert after["beta"] == {**before["beta"], "owner": "[email]"}
    assert after["acme"] == before["acme"]
