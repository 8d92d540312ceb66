"""The official Segment and RudderStack Node.js SDKs against a real ``clientvault serve``.

Unmodified ``@segment/analytics-node`` and ``@rudderstack/rudder-sdk-node`` from the npm
registry (``tests/sdk_clients``, installed on first use), run by node as their documentation
configures them — our URL as host / data plane, a source's write key — send one call of
every kind: identify, track, page, screen, group and alias (``send_node.mjs`` prints what
each SDK built, message ids included). They differ where it matters:

* analytics-node posts plain JSON to ``/v1/batch`` with the key as the HTTP Basic user;
* rudder-sdk-node gzips the batch (``Content-Encoding: gzip``), copies identify traits into
  ``context.traits`` and adds ``channel`` and ``_metadata``.

Every call must land with its fields: type, name, properties, the group's id and traits
(and, through the groups consumer of the server's worker, the group and its member), one
customer for all of them, identifiers sealed.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.ingest.models import Event, Group, GroupMember
from clientvault.store.context import Store

NODE_TIMEOUT_S = 60
CONSUMER_WAIT_S = 15.0
ORDER = {"order_id": "o-2002", "total": 99.5, "currency": "EUR", "items": 3}
PAGE = {"path": "/pricing", "title": "Pricing"}
SCREEN = {"tab": "feed"}
GROUP_TRAITS = {"name": "Acme Corp", "employees": 120, "plan": "enterprise", "industry": "retail"}


def calls(tag: str) -> list[dict[str, Any]]:
    """One call of each kind, as the SDKs' documented methods take them."""
    user = f"js-user-{tag}"
    return [
        {
            "method": "identify",
            "args": {
                "userId": user,
                "anonymousId": f"js-anon-{tag}",
                "traits": {"email": f"ines.moreau.{tag}@example.com", "plan": "pro"},
            },
        },
        {
            "method": "track",
            "args": {"userId": user, "event": "Order Completed", "properties": ORDER},
        },
        {
            "method": "page",
            "args": {"userId": user, "category": "Docs", "name": "Pricing", "properties": PAGE},
        },
        {"method": "screen", "args": {"userId": user, "name": "Home", "properties": SCREEN}},
        {
            "method": "group",
            "args": {"userId": user, "groupId": f"acct-{tag}", "traits": GROUP_TRAITS},
        },
        {"method": "alias", "args": {"userId": f"js-new-{tag}", "previousId": user}},
    ]


def _send(sdk_clients: Path, sdk: str, url: str, write_key: str, plan: list[Any]) -> Any:
    command = {"sdk": sdk, "url": url, "writeKey": write_key, "calls": plan}
    done = subprocess.run(
        ["node", "send_node.mjs", orjson.dumps(command).decode()],
        cwd=sdk_clients,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout)


def wait_for_member(store: Store, group_key: str) -> tuple[Group, list[GroupMember]]:
    """The group and its members, once the server's worker has run the groups consumer."""
    deadline = time.monotonic() + CONSUMER_WAIT_S
    while True:
        with store.sessions() as session:
            group = session.scalar(select(Group).where(Group.group_key == group_key))
            members = (
                list(session.scalars(select(GroupMember).where(GroupMember.group_id == group.id)))
                if group
                else []
            )
        if members or time.monotonic() > deadline:
            assert group is not None, f"group {group_key} never appeared"
            return group, members
        time.sleep(0.1)


def assert_every_call_stored(
    store: Store, source: str, sent: list[dict[str, Any]], tag: str
) -> list[Event]:
    """Each sent call is an event with its type, name and fields, all of one customer."""
    with store.sessions() as session:
        events = list(
            session.scalars(select(Event).where(Event.source == source).order_by(Event.id))
        )
        customers = list(session.scalars(select(Customer).where(Customer.source == source)))
        identities = sorted(
            session.execute(
                select(CustomerIdentity.kind, CustomerIdentity.value_index).where(
                    CustomerIdentity.customer_id.in_([c.id for c in customers])
                )
            ).all()
        )
    stored = {event.message_id: event for event in events}
    assert sorted(stored) == sorted(m["messageId"] for m in sent), "calls missing or extra"
    by_type = {stored[m["messageId"]].type: stored[m["messageId"]] for m in sent}
    assert sorted(by_type) == ["alias", "group", "identify", "page", "screen", "track"]
    assert by_type["track"].name == "Order Completed"
    assert by_type["track"].properties == ORDER
    assert by_type["page"].name == "Pricing"
    assert by_type["page"].properties == {**PAGE, "category": "Docs"}
    assert by_type["screen"].name == "Home"
    assert by_type["screen"].properties == SCREEN
    assert by_type["group"].properties == {"groupId": f"acct-{tag}", "traits": GROUP_TRAITS}
    assert set(by_type["identify"].properties["traits"]) >= {"email", "plan"}

    [customer] = customers
    assert {e.customer_id for e in events} == {customer.id}
    assert customer.traits == {"plan": "pro"}
    assert customer.email_index == store.index("email", f"ines.moreau.{tag}@example.com")
    user_ids = {store.index("user_id", f"js-user-{tag}"), store.index("user_id", f"js-new-{tag}")}
    assert {index for kind, index in identities if kind == "user_id"} == user_ids
    for event in events:
        assert f"ines.moreau.{tag}" not in orjson.dumps([event.properties, event.context]).decode()

    group, members = wait_for_member(store, f"acct-{tag}")
    assert group.traits == GROUP_TRAITS
    assert [m.customer_id for m in members] == [customer.id]
    return events


@pytest.mark.parametrize("sdk", ["segment", "rudder"])
def test_node_sdk_delivers_every_call_with_its_fields(
    sdk: str, source: Any, sdk_store: Store, sdk_clients: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    plan = calls(tag)
    result = _send(sdk_clients, sdk, source.url, source.write_key, plan)
    assert result["errors"] == []
    assert len(result["sent"]) == len(plan)
    events = assert_every_call_stored(sdk_store, source.name, result["sent"], tag)
    library = "@segment/analytics-node" if sdk == "segment" else "analytics-node"
    assert {e.context["library"]["name"] for e in events} == {library}
