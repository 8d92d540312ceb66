"""The official Segment and RudderStack Python SDKs against a real ``clientvault serve``.

Each SDK is configured as its documentation says (our host, a source's write key) and sends
an identify (e-mail, phone and name traits), a track with properties and a page, in
``sync_mode`` so every call is one HTTP request answered before the next. What they send is
what the installed SDKs send: ``POST /v1/batch`` with the write key as the HTTP Basic user
(Segment's also puts it in the body), ``sentAt``, ``context.library`` and so on.

The two SDKs differ where it matters:

* ``segment-analytics-python`` sends plain JSON unless ``gzip=True``; with it, the body is
  gzip-compressed and sent with ``Content-Encoding: gzip``.
* ``rudder-sdk-python`` compresses by default (``gzip=True``), and puts identify traits in
  ``context.traits`` instead of the message's top-level ``traits``.
* Both read ``code`` and ``message`` at the top level of an error body.

Every case expects the same outcome: three events of the right types and names, one
customer they all belong to (the page is anonymous and is stitched through the identify's
``anonymousId``), identifiers sealed and blind-indexed, no PII in the events.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.ingest.models import Event
from clientvault.store.context import Store

ORDER = {"order_id": "o-1001", "total": 42.5, "currency": "EUR", "items": 2}
PAGE = {"path": "/pricing", "title": "Pricing"}
#: A server-side SDK forwarding its end user's address (RFC 5737 documentation range).
CLIENT = {"ip": "198.51.100.23"}


@contextmanager
def _segment(url: str, write_key: str, gzip: bool | None) -> Iterator[Any]:
    from segment.analytics import Client
    from segment.analytics import request as segment_request

    options = {} if gzip is None else {"gzip": gzip}
    client = Client(write_key, host=url, sync_mode=True, max_retries=0, **options)
    try:
        yield client
    finally:
        segment_request._session.close()  # the SDK's module-level keep-alive pool


@contextmanager
def _rudder(url: str, write_key: str, gzip: bool | None) -> Iterator[Any]:
    from rudderstack.analytics import Client
    from rudderstack.analytics import request as rudder_request

    options = {} if gzip is None else {"gzip": gzip}
    client = Client(write_key, host=url, sync_mode=True, max_retries=0, **options)
    try:
        yield client
    finally:
        rudder_request._session.close()


SDKS = {"segment": _segment, "rudder": _rudder}


def _api_error(sdk: str) -> type[Exception]:
    if sdk == "segment":
        from segment.analytics.request import APIError
    else:
        from rudderstack.analytics.request import APIError
    return APIError


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
    sdk: str, gzip: bool | None, source: Any, sdk_store: Store
) -> None:
    """identify, track and page through the SDK: stored, stitched, sealed, scrubbed."""
    # Identifiers of this test only: tests share the server, and a known phone would stitch.
    tag = uuid.uuid4().hex[:8]
    user_id, anonymous_id = f"sdk-user-{tag}", f"sdk-anon-{tag}"
    email = f"Camille.Durand.{tag}@Example.com"
    last_digits = f"{int(tag, 16) % 10_000:04d}"
    phone = f"+33 6 12 34 {last_digits[:2]} {last_digits[2:]}"
    traits = {"email": email, "phone": phone, "name": "Camille Durand", "plan": "pro"}
    pii_needles = ("camille", "durand", f"61234{last_digits}", phone[4:])
    sent: list[dict[str, Any]] = []
    with SDKS[sdk](source.url, source.write_key, gzip) as client:
        for call in (
            lambda: client.identify(user_id=user_id, anonymous_id=anonymous_id, traits=traits),
            lambda: client.track(
                user_id=user_id, event="Order Completed", properties=ORDER, context=CLIENT
            ),
            lambda: client.page(
                anonymous_id=anonymous_id, category="Docs", name="Pricing", properties=PAGE
            ),
        ):
            ok, message = call()  # in sync_mode a refused request raises the SDK's APIError
            assert ok
            sent.append(message)

    with sdk_store.sessions() as session:
        events = list(
            session.scalars(select(Event).where(Event.source == source.name).order_by(Event.id))
        )
        customers = list(session.scalars(select(Customer).where(Customer.source == source.name)))
        identities = list(
            session.execute(select(CustomerIdentity.kind, CustomerIdentity.customer_id))
        )

    # The three events, in order, with the SDK's message ids, types and names.
    assert [(e.message_id, e.type, e.name) for e in events] == [
        (sent[0]["messageId"], "identify", None),
        (sent[1]["messageId"], "track", "Order Completed"),
        (sent[2]["messageId"], "page", "Pricing"),
    ]
    assert all(e.context["library"]["name"] == "analytics-python" for e in events)

    # One customer, and every event (the anonymous page included) is theirs.
    assert len(customers) == 1, "the SDK's calls made more than one customer"
    [customer] = customers
    assert [e.customer_id for e in events] == [customer.id] * 3

    # Identifiers sealed, never in clear, and blind-indexed in their normalised form.
    assert customer.email_sealed is not None, "the e-mail trait did not reach the profile"
    assert b"camille" not in customer.email_sealed.lower()
    assert customer.email_index == sdk_store.index("email", email.lower())
    assert customer.phone_sealed is not None
    assert f"61234{last_digits}".encode() not in customer.phone_sealed
    assert customer.phone_index == sdk_store.index("phone", f"+3361234{last_digits}")
    assert customer.first_name_sealed is not None
    assert customer.last_name_sealed is not None
    assert sorted(k for k, c in identities if c == customer.id) == [
        "anonymous_id",
        "email",
        "phone",
        "user_id",
    ]
    assert customer.traits == {"plan": "pro"}

    # Events keep behaviour, not identities.
    assert events[0].properties == {"traits": ["email", "name", "phone", "plan"]}
    assert events[1].properties == ORDER
    assert events[2].properties == {**PAGE, "category": "Docs"}
    # The address is kept as its /24 network only: the caller's, or the one sent in context.ip.
    assert [e.context.get("ip_network") for e in events] == [
        "127.0.0.0",
        "198.51.100.0",
        "127.0.0.0",
    ]
    for event in events:
        assert "ip" not in event.context
        assert "198.51.100.23" not in orjson.dumps(event.context).decode()
        stored = orjson.dumps([event.properties, event.context]).decode().lower()
        for needle in pii_needles:
            assert needle not in stored, f"PII in the stored {event.type} event"


@pytest.mark.parametrize("sdk", ["segment", "rudder"])
def test_sdk_reports_a_refused_call_with_our_status_and_code(
    sdk: str, source: Any, sdk_store: Store
) -> None:
    """A refused call surfaces in the SDK as its ``APIError`` carrying our status and code.

    Both SDKs read ``code`` and ``message`` at the top level of the error body; RudderStack's
    only turns a 4xx into a non-retried ``APIError`` when they are there (otherwise a KeyError
    escapes, and its background consumer retries the permanent failure ten times).
    """
    unknown_key = "cvwk_" + "0" * 43  # well-formed, but no source has it
    user_id = f"sdk-refused-{uuid.uuid4().hex[:8]}"
    with (
        SDKS[sdk](source.url, unknown_key, False) as client,
        pytest.raises(_api_error(sdk)) as refused,
    ):
        client.track(user_id=user_id, event="Order Completed", properties=ORDER)
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    stored = select(Event).where(Event.user_index == sdk_store.index("user_id", user_id))
    with sdk_store.sessions() as session:
        assert session.scalars(stored).first() is None
