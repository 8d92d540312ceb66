"""The official Segment and RudderStack Python SDKs against a real ``clientvault serve``.

Each SDK is configured as its documentation says (our host, a source's write key) and sends
an identify (e-mail, phone and name traits), a track with properties and a page, in
``sync_mode`` so every call is one HTTP request answered before the next. What they send is
what the installed SDKs send: ``POST /v1/batch`` with the write key as the HTTP Basic user
(and, for Segment, in the body too), ``sentAt``, ``context.library`` and so on.

The two SDKs differ where it matters:

* ``segment-analytics-python`` sends plain JSON unless ``gzip=True``; with it, the body is
  gzip-compressed and sent with ``Content-Encoding: gzip``.
* ``rudder-sdk-python`` compresses by default (``gzip=True``), and puts identify traits in
  ``context.traits`` rather than at the message's top level.

Every case expects the same outcome: three events of the right types and names, one
customer they all belong to (the page is anonymous and is stitched through the identify's
``anonymousId``), identifiers sealed and blind-indexed, no PII in the events.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.ingest.models import Event
from clientvault.store.context import Store

USER_ID = "sdk-user-1"
ANONYMOUS_ID = "sdk-anon-1"
EMAIL = "Camille.Durand@Example.com"
PHONE = "+33 6 12 34 56 78"
TRAITS = {"email": EMAIL, "phone": PHONE, "name": "Camille Durand", "plan": "pro"}
ORDER = {"order_id": "o-1001", "total": 42.5, "currency": "EUR", "items": 2}
PAGE = {"path": "/pricing", "title": "Pricing"}
#: Fragments of the identifiers above that must never appear in an event.
PII_NEEDLES = ("camille", "durand", "12345678", "12 34 56 78")


@contextmanager
def _segment(server: Any, gzip: bool | None) -> Iterator[Any]:
    from segment.analytics import Client
    from segment.analytics import request as segment_request

    options = {} if gzip is None else {"gzip": gzip}
    client = Client(server.write_key, host=server.url, sync_mode=True, max_retries=0, **options)
    try:
        yield client
    finally:
        segment_request._session.close()


@contextmanager
def _rudder(server: Any, gzip: bool | None) -> Iterator[Any]:
    from rudderstack.analytics import Client
    from rudderstack.analytics import request as rudder_request

    options = {} if gzip is None else {"gzip": gzip}
    client = Client(server.write_key, host=server.url, sync_mode=True, max_retries=0, **options)
    try:
        yield client
    finally:
        rudder_request._session.close()


SDKS = {"segment": _segment, "rudder": _rudder}


@pytest.mark.parametrize(
    ("sdk", "gzip"),
    [
        pytest.param("segment", None, id="segment-defaults"),
        pytest.param("segment", True, id="segment-gzip"),
        pytest.param("rudder", None, id="rudder-defaults"),
        pytest.param("rudder", False, id="rudder-plain-json"),
    ],
)
def test_sdk_calls_land_as_events_of_one_sealed_customer(
    sdk: str, gzip: bool | None, live_server: Any, db: Store
) -> None:
    """identify, track and page through the SDK: stored, stitched, sealed, scrubbed."""
    sent: list[dict[str, Any]] = []
    with SDKS[sdk](live_server, gzip) as client:
        for call in (
            lambda: client.identify(user_id=USER_ID, anonymous_id=ANONYMOUS_ID, traits=TRAITS),
            lambda: client.track(user_id=USER_ID, event="Order Completed", properties=ORDER),
            lambda: client.page(
                anonymous_id=ANONYMOUS_ID, category="Docs", name="Pricing", properties=PAGE
            ),
        ):
            ok, message = call()  # in sync_mode a refused request raises the SDK's APIError
            assert ok
            sent.append(message)

    with db.sessions() as session:
        events = list(session.scalars(select(Event).order_by(Event.id)))
        customers = list(session.scalars(select(Customer)))
        identities = sorted(
            session.scalars(select(CustomerIdentity.kind).order_by(CustomerIdentity.kind))
        )

    # The three events, in order, with the SDK's message ids, types and names.
    assert [(e.message_id, e.type, e.name) for e in events] == [
        (sent[0]["messageId"], "identify", None),
        (sent[1]["messageId"], "track", "Order Completed"),
        (sent[2]["messageId"], "page", "Pricing"),
    ]
    assert {e.source for e in events} == {"sdk-tests"}
    assert all(e.context["library"]["name"] == "analytics-python" for e in events)

    # One customer, and every event (the anonymous page included) is theirs.
    assert len(customers) == 1, "the SDK's calls made more than one customer"
    [customer] = customers
    assert [e.customer_id for e in events] == [customer.id] * 3
    assert identities == ["anonymous_id", "email", "phone", "user_id"]
    assert customer.traits == {"plan": "pro"}

    # Identifiers sealed, never in clear, and blind-indexed in their normalised form.
    assert customer.email_sealed is not None, "the e-mail trait did not reach the profile"
    assert b"camille" not in customer.email_sealed.lower()
    assert customer.email_index == db.index("email", EMAIL.lower())
    assert customer.phone_sealed is not None
    assert b"612345678" not in customer.phone_sealed
    assert customer.phone_index == db.index("phone", "+33612345678")
    assert customer.first_name_sealed is not None
    assert customer.last_name_sealed is not None

    # Events keep behaviour, not identities.
    assert events[0].properties == {"traits": ["email", "name", "phone", "plan"]}
    assert events[1].properties == ORDER
    assert events[2].properties == {**PAGE, "category": "Docs"}
    for event in events:
        assert "ip" not in event.context
        assert event.context.get("ip_network") == "127.0.0.0"
        stored = orjson.dumps([event.properties, event.context]).decode().lower()
        for needle in PII_NEEDLES:
            assert needle not in stored, f"PII in the stored {event.type} event"


@pytest.mark.parametrize("sdk", ["segment", "rudder"])
def test_sdk_reports_a_refused_call_with_our_status_and_code(
    sdk: str, live_server: Any, db: Store
) -> None:
    """A refused call surfaces in the SDK as its ``APIError`` carrying our status and code.

    Both SDKs read ``code`` and ``message`` at the top level of the error body; RudderStack's
    only turns a 4xx into a non-retried ``APIError`` when they are there (otherwise a KeyError
    escapes and its background consumer retries the permanent failure ten times).
    """
    live_server.write_key = "cvwk_" + "0" * 43  # well-formed, but no source has it
    error_type = _api_error(sdk)
    with SDKS[sdk](live_server, False) as client, pytest.raises(error_type) as refused:
        client.track(user_id=USER_ID, event="Order Completed", properties=ORDER)
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    with db.sessions() as session:
        assert session.scalars(select(Event)).first() is None


def _api_error(sdk: str) -> type[Exception]:
    if sdk == "segment":
        from segment.analytics.request import APIError
    else:
        from rudderstack.analytics.request import APIError
    return APIError
