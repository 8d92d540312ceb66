"""The Segment-compatible tracking API under ``/v1`` (write key as the HTTP Basic user).

A call is answered only after its transaction has committed, so a 200 means stored. Limits
follow Segment: 32 KB per event, 500 KB per batch, with 413 beyond them.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from datetime import datetime
from typing import Any, Protocol

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from clientvault.api.errors import error_body
from clientvault.ingest.sources import authenticate
from clientvault.ingest.spec import MAX_BATCH_BYTES, MAX_EVENT_BYTES, MESSAGE_TYPES, Message
from clientvault.ingest.tracking import BatchResult, PreparedBatch, prepare_batch, store_batch
from clientvault.ingest.writer import IngestWriter
from clientvault.settings import Settings
from clientvault.store.context import Store

router = APIRouter(prefix="/v1", tags=["tracking"])
_SENT_AT: TypeAdapter[datetime | None] = TypeAdapter(datetime | None)
_MESSAGE_SCHEMA = TypeAdapter(Message).json_schema(by_alias=True)


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
        return orjson.loads(body)
    except orjson.JSONDecodeError:
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


async def _handle(request: Request, *, limit: int, implied_type: str | None) -> JSONResponse:
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
    settings: Settings = request.app.state.settings
    # Checked, normalised and scrubbed on the event loop, then awaited while it is stored.
    # Preparing is CPU work under the GIL: in worker threads, calls did not run alongside
    # anything (they were prepared one at a time under a lock) and each cost two thread
    # hand-overs and a thread parked until the writer answered. Here a call holds the loop
    # while it is prepared: ~2 ms for 100 events, ~10 ms for Segment's largest batch.
    batch = _prepared(
        request.app.state.store,
        write_key=write_key,
        messages=messages,
        implied_type=implied_type,
        sent_at=sent_at,
        client_ip=_client_ip(request),
        default_region=settings.default_phone_region,
    )
    if batch is None:
        return _Refused(401, "unauthorized", "unknown or revoked write key").response
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


def _prepared(
    store: Store,
    *,
    write_key: str,
    messages: list[Any],
    implied_type: str | None,
    sent_at: datetime | None,
    client_ip: str | None,
    default_region: str,
) -> PreparedBatch | None:
    """The call prepared for storing (``ingest.tracking.prepare_batch``), or ``None`` if its
    write key is unknown or revoked (checked on every call: a revocation applies at once)."""
    source = authenticate(store.engine, write_key=write_key)
    if source is None:
        return None
    return prepare_batch(
        store,
        source=source,
        messages=messages,
        implied_type=implied_type,
        batch_sent_at=sent_at,
        client_ip=client_ip,
        default_region=default_region,
    )


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


@router.post(
    "/batch",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": _BATCH_SCHEMA}}}},
)
async def batch(request: Request) -> JSONResponse:
    """Store up to 500 KB of messages; valid ones land, each invalid one is reported."""
    return await _handle(request, limit=MAX_BATCH_BYTES, implied_type=None)


def _single_endpoint(message_type: str) -> None:
    async def endpoint(request: Request) -> JSONResponse:
        return await _handle(request, limit=MAX_EVENT_BYTES, implied_type=message_type)

    endpoint.__doc__ = f"Store one `{message_type}` message (Segment tracking spec)."
    router.add_api_route(
        f"/{message_type}",
        endpoint,
        methods=["POST"],
        name=message_type,
        openapi_extra={
            "requestBody": {"content": {"application/json": {"schema": _MESSAGE_SCHEMA}}}
        },
    )


for _type in MESSAGE_TYPES:
    _single_endpoint(_type)
