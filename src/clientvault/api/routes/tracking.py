"""The Segment-compatible tracking API under ``/v1`` (write key as the HTTP Basic user).

A call is answered only after its transaction has committed, so a 200 means stored. Limits
follow Segment: 32 KB per event, 500 KB per batch, with 413 beyond them. Segment's browser
SDK (analytics.js / ``@segment/analytics-next``) posts to short paths — ``/v1/t``, ``/v1/p``,
``/v1/i``, ``/v1/s``, ``/v1/g``, ``/v1/a`` and ``/v1/b`` — with ``Content-Type: text/plain``
(the body is read as JSON whatever its declared type) and the write key both in an
``Authorization: Basic`` header and in the body: they are aliases of the long paths.

CORS, on this API only (never on ``/api``, the console or the preference centre): a page on
a customer's website calls it from another origin, and the ``Authorization`` header makes
the browser send a preflight (``OPTIONS``) first. What browsers do, and what we answer:

* The preflight carries no credentials, so no write key: it is answered 204, with
  ``Access-Control-Allow-Origin`` echoing the origin, when at least one active source accepts
  that origin (``ingest.sources.preflight_allowed``), and 403 without it otherwise — the
  browser then never sends the call. ``Access-Control-Max-Age`` lets it skip the preflight
  for two hours (Chromium's cap).
* The call itself carries the key and its ``Origin``: a source with an origin list refuses
  a call from any other origin with 403 ``origin_not_allowed`` and stores nothing. The
  refusal carries the CORS headers so that the SDK can read it and drop the call, rather than
  see a network error and retry it.
* Every other answer echoes the caller's origin (never ``*``: that would not work for an
  SDK configured to send credentials) with ``Vary: Origin``. No
  ``Access-Control-Allow-Credentials``: the API uses no cookies, so a page can never make
  a browser send its own to us.
* Calls without ``Origin`` (server SDKs, curl) are not browser calls and are not checked
  (``ingest.origins``). ``sendBeacon`` calls (no headers possible, write key in the body)
  are simple requests: no preflight, but their ``Origin`` is checked the same way.

Why by hand rather than Starlette's ``CORSMiddleware``: that applies one static origin list
to the whole app, while here the list belongs to the source, known only once the write key
is read, and the rest of the app must stay without CORS.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from datetime import datetime
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter, ValidationError

from clientvault.http.errors import error_body
from clientvault.ingest.sources import authenticate, preflight_allowed
from clientvault.ingest.spec import (
    MAX_BATCH_BYTES,
    MAX_EVENT_BYTES,
    MESSAGE_TYPES,
    TOO_DEEP,
    InvalidMessage,
    Message,
    parse_json,
)
from clientvault.ingest.tracking import BatchResult, PreparedBatch, prepare_batch, store_batch
from clientvault.ingest.writer import IngestWriter
from clientvault.settings import Settings
from clientvault.store.context import Store

router = APIRouter(prefix="/v1", tags=["tracking"])
_SENT_AT: TypeAdapter[datetime | None] = TypeAdapter(datetime | None)
_MESSAGE_SCHEMA = TypeAdapter(Message).json_schema(by_alias=True)
#: Segment's short paths (analytics.js) for each long one: ``/v1/t`` is ``/v1/track``.
SHORT_PATHS = {
    "batch": "b",
    "track": "t",
    "page": "p",
    "identify": "i",
    "screen": "s",
    "group": "g",
    "alias": "a",
}
#: Request headers the SDKs send: the write key, the body's type and encoding, Segment's
#: retry counter, RudderStack's anonymous id.
CORS_ALLOW_HEADERS = "Authorization, Content-Type, Content-Encoding, X-Retry-Count, AnonymousId"
CORS_MAX_AGE_S = 7200


def _tracking_error(code: str, message: str, details: object = None) -> dict[str, object]:
    """Our error envelope plus Segment's top-level ``code``/``message``, which the official
    SDKs read to report a refused call."""
    return {"code": code, "message": message, **error_body(code, message, details)}


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.response = JSONResponse(_tracking_error(code, message), status_code=status)
        if status == 401:
            self.response.headers["WWW-Authenticate"] = 'Basic realm="clientvault tracking"'


async def _read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _Refused(413, "payload_too_large", f"body larger than {limit // 1024} KB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _Refused(413, "payload_too_large", f"body larger than {limit // 1024} KB")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":
        body = _gunzip(bytes(body), limit)
    elif encoding not in ("", "identity"):
        raise _Refused(415, "unsupported_encoding", f"content-encoding {encoding!r} not supported")
    try:
        return parse_json(body)
    except InvalidMessage as exc:
        if exc.reason == TOO_DEEP:
            raise _Refused(400, "too_deep", f"the body has {TOO_DEEP}") from None
        raise _Refused(400, "malformed_json", "the body is not valid JSON") from None


def _gunzip(compressed: bytes, limit: int) -> bytearray:
    """Inflate a gzip body (Segment's SDKs send them), refusing one that inflates past the
    limit: the limit applies to the JSON, and a small bomb must not exhaust memory."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = bytearray(inflater.decompress(compressed, limit + 1))
    except zlib.error:
        raise _Refused(400, "malformed_body", "the body is not valid gzip") from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise _Refused(413, "payload_too_large", f"body larger than {limit // 1024} KB")
    return body


def _write_key(request: Request, payload: Any) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _Refused(401, "unauthorized", "malformed Basic credentials") from None
        return decoded.split(":", 1)[0]
    # sendBeacon cannot set headers: like Segment, accept the write key in the body too.
    if isinstance(payload, dict) and isinstance(payload.get("writeKey"), str):
        return str(payload["writeKey"])
    raise _Refused(401, "unauthorized", "a write key is required (HTTP Basic user)")


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _with_cors(response: Response, origin: str | None) -> Response:
    """The response, readable by a page of ``origin`` (``None``: not a browser call)."""
    response.headers["Vary"] = "Origin"
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
    return response


async def _preflight(request: Request) -> Response:
    """A CORS preflight: allowed when some active source accepts the origin."""
    origin = request.headers.get("origin")
    if origin is None:  # a plain OPTIONS, not a browser's preflight
        return Response(status_code=204, headers={"Allow": "POST, OPTIONS"})
    if not await run_in_threadpool(preflight_allowed, request.app.state.store.engine, origin):
        refused = _Refused(403, "origin_not_allowed", "no tracking source accepts this origin")
        return _with_cors(refused.response, None)
    response = Response(status_code=204)
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
    response.headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_S)
    return _with_cors(response, origin)


async def _handle(request: Request, *, limit: int, implied_type: str | None) -> Response:
    origin = request.headers.get("origin")
    return _with_cors(await _call(request, limit=limit, implied_type=implied_type), origin)


async def _call(request: Request, *, limit: int, implied_type: str | None) -> JSONResponse:
    try:
        payload = await _read_json(request, limit)
        write_key = _write_key(request, payload)
        if not isinstance(payload, dict):
            raise _Refused(400, "invalid_input", "the body must be a JSON object")
        if implied_type is None:
            messages = payload.get("batch")
            if not isinstance(messages, list) or not messages:
                raise _Refused(400, "invalid_input", "`batch` must be a non-empty array")
        else:
            messages = [{k: v for k, v in payload.items() if k != "writeKey"}]
        try:
            sent_at = (
                _SENT_AT.validate_python(payload.get("sentAt")) if implied_type is None else None
            )
        except ValidationError:
            raise _Refused(400, "invalid_input", "`sentAt` is not a date-time") from None
    except _Refused as refused:
        return refused.response
    source = authenticate(request.app.state.store.engine, write_key=write_key)
    if source is None:
        return _Refused(401, "unauthorized", "unknown or revoked write key").response
    if not source.allows(request.headers.get("origin")):
        return _Refused(
            403, "origin_not_allowed", "this write key does not accept calls from this origin"
        ).response
    settings: Settings = request.app.state.settings
    # Checked, normalised and scrubbed on the event loop, then awaited while it is stored.
    # Preparing is CPU work under the GIL: in worker threads, calls did not run alongside
    # anything (they were prepared one at a time under a lock) and each cost two thread
    # hand-overs and a thread parked until the writer answered. Here a call holds the loop
    # while it is prepared: ~2 ms for 100 events, ~10 ms for Segment's largest batch.
    batch = prepare_batch(
        request.app.state.store,
        source=source.name,
        messages=messages,
        implied_type=implied_type,
        batch_sent_at=sent_at,
        client_ip=_client_ip(request),
        default_region=settings.default_phone_region,
        url_parameters=settings.privacy.url_parameters,
    )
    store_tracking: StoreTracking = request.app.state.store_tracking
    result = await store_tracking(
        batch,
        # Global Privacy Control: an opt-out of sale/share for the customers of this call.
        gpc_policy_version=(
            settings.privacy.policy_version if request.headers.get("sec-gpc") == "1" else None
        ),
    )
    return _response(result, single=implied_type is not None)


class StoreTracking(Protocol):
    """Stores a prepared call; its result once committed."""

    async def __call__(
        self, batch: PreparedBatch, *, gpc_policy_version: str | None
    ) -> BatchResult:
        """Store ``batch``; answer only once its transaction has committed."""
        ...


def storing(store: Store, settings: Settings, writer: IngestWriter | None) -> StoreTracking:
    """How the app stores prepared tracking calls: through the ingest writer process when
    there is one, else in a worker thread, sharing commits with concurrent calls
    (``store.group_commit``)."""
    if writer is not None:
        return writer.store_async

    def in_process(batch: PreparedBatch, gpc_policy_version: str | None) -> BatchResult:
        return store.group_commit.run(
            lambda session: store_batch(
                session,
                store,
                batch,
                identity=settings.identity,
                gpc_policy_version=gpc_policy_version,
            )
        )

    async def in_a_thread(batch: PreparedBatch, *, gpc_policy_version: str | None) -> BatchResult:
        return await run_in_threadpool(in_process, batch, gpc_policy_version)

    return in_a_thread


def _response(result: BatchResult, *, single: bool) -> JSONResponse:
    if single and result.rejected:
        return JSONResponse(
            _tracking_error("invalid_event", result.rejected[0].reason), status_code=400
        )
    rejected = [{"index": r.index, "reason": r.reason} for r in result.rejected]
    if rejected and not result.accepted and not result.duplicates:
        body = _tracking_error(
            "invalid_batch", "no event in the batch is valid", {"rejected": rejected}
        )
        return JSONResponse(body, status_code=400)
    return JSONResponse(
        {
            "success": True,
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": rejected,
            "scrubbed": result.scrubbed,
            # Beside Segment's ``success`` (which SDKs read alone): identifiers another
            # customer holds at their kind's limit, kept aside rather than linked, and
            # placeholder values dropped.
            "identifier_conflicts": result.identifier_conflicts,
            "blocked_identifiers": result.blocked_identifiers,
        }
    )


_BATCH_SCHEMA = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "items": _MESSAGE_SCHEMA},
        "sentAt": {"type": "string", "format": "date-time"},
        "context": {"type": "object"},
    },
}


async def batch(request: Request) -> Response:
    """Store up to 500 KB of messages; valid ones land, each invalid one is reported
    (also at Segment's short path `/v1/b`)."""
    return await _handle(request, limit=MAX_BATCH_BYTES, implied_type=None)


def _single_endpoint(message_type: str) -> None:
    async def endpoint(request: Request) -> Response:
        return await _handle(request, limit=MAX_EVENT_BYTES, implied_type=message_type)

    endpoint.__doc__ = (
        f"Store one `{message_type}` message (Segment tracking spec; also at Segment's short"
        f" path `/v1/{SHORT_PATHS[message_type]}`)."
    )
    _add_routes(message_type, endpoint, _MESSAGE_SCHEMA)


def _add_routes(name: str, endpoint: Any, schema: dict[str, Any]) -> None:
    """The endpoint at its long path (documented) and its short alias, each with its CORS
    preflight."""
    body = {"requestBody": {"content": {"application/json": {"schema": schema}}}}
    router.add_api_route(f"/{name}", endpoint, methods=["POST"], name=name, openapi_extra=body)
    short = SHORT_PATHS[name]
    router.add_api_route(
        f"/{short}", endpoint, methods=["POST"], name=f"{name}-short", include_in_schema=False
    )
    for path in (name, short):
        router.add_api_route(
            f"/{path}",
            _preflight,
            methods=["OPTIONS"],
            name=f"{path}-preflight",
            include_in_schema=False,
        )


_add_routes("batch", batch, _BATCH_SCHEMA)
for _type in MESSAGE_TYPES:
    _single_endpoint(_type)
