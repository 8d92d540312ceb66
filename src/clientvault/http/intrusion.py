"""Intrusion prevention at the application edge: block a client address that piles up
authentication failures (401), refusals (403) or probing 404s, and keep the admin routes to
the allowed networks.

A pure ASGI middleware (not ``BaseHTTPMiddleware``, which would buffer every response through
a task and a memory stream): it reads the status line of each response as it goes out and
does nothing else on the way, so the tracking API's hot path pays one dictionary look-up and
one wrapped ``send``.

What counts, per client address (IPv6 by /64, since one host owns a whole /64):

* ``auth_failures`` — any 401, the tracking API's included (a wrong write key);
* ``denials`` — a 403 outside the tracking API, and requests refused for their network;
* ``not_found`` — a 404 for a path no route matches (probing for ``/.env``, ``/wp-admin``…);
  a 404 from a route (no such customer) is an answer, not a probe, and does not count.

Under ``/v1`` (tracking) only 401s count: SDKs legitimately send malformed or oversized
payloads, and their 4xx answers must never lock a website's visitors out.

The state lives in memory, per process, bounded in size (least recently seen addresses are
forgotten first). That is acceptable here because this guard is a cheap first line, not the
only one: sign-in failures are also throttled in the database (``security.throttle``) so every
process agrees on lock-outs, and every refusal is in the audit log, where the access alerts
see them across processes and restarts. Keeping per-request counters in the database would
turn each failed request into a write, the opposite of what a guard against floods should do.
With several processes an address may get up to N times the allowance before every process
has blocked it; past one machine, block at the shared reverse proxy or firewall instead.

The client address is the ASGI ``client``: behind a reverse proxy, let the server take it from
``X-Forwarded-For`` (uvicorn's ``--forwarded-allow-ips``), or every client shares the proxy's
address and one attacker blocks everybody.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import anyio.to_thread
import orjson
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.settings import SecuritySettings
from clientvault.store.context import Store

logger = logging.getLogger(__name__)

FailureKind = Literal["auth_failures", "denials", "not_found"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Routes for administrators only, kept to ``admin_networks`` when that list is not empty.
ADMIN_PREFIXES = (
    "/api/v1/users",
    "/api/v1/roles",
    "/api/v1/audit",
    "/api/v1/alerts",
    "/api/v1/jobs",
    "/console/security",
)
#: The tracking API, where only authentication failures count.
TRACKING_PREFIX = "/v1/"


def client_key(host: str) -> str:
    """What failures are counted against: the IPv4 address, or the IPv6 /64.

    IPv4 addresses (the common case) are used as they are, without parsing.
    """
    if ":" not in host:
        return host
    try:
        ip = ipaddress.IPv6Address(host.split("%", 1)[0])  # without a zone id ("%eth0")
    except ValueError:
        return host[:64]
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


def is_admin_path(path: str) -> bool:
    """Whether a path is one of the admin routes (the prefix itself or below it)."""
    for prefix in ADMIN_PREFIXES:
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            return True
    return False


class _Recent:
    """The times of one client's last ``limit`` failures of one kind, in a ring of doubles.

    A deque of float objects costs three times as much: with every tracked address one
    failure short of every limit, the guard holds about 1.6 KB per address (16 MB at the
    default ``intrusion_max_tracked`` of 10,000), against 54 MB with deques.
    """

    __slots__ = ("count", "times")

    def __init__(self, limit: int) -> None:
        self.times = array("d", bytes(8 * limit))
        self.count = 0

    def add(self, now: float, window: float) -> bool:
        """Record a failure; whether the last ``limit`` of them all fall within ``window``."""
        limit = len(self.times)
        self.times[self.count % limit] = now
        self.count += 1
        return self.count >= limit and now - self.times[self.count % limit] <= window


@dataclass(frozen=True)
class Block:
    """A client address refused until ``until`` (on the guard's clock), and why."""

    key: str
    until: float
    reason: FailureKind
    failures: int
    seconds: int


class IntrusionGuard:
    """The per-process memory of failing clients and of the blocks in force.

    ``clock`` (seconds, monotonic) can be replaced, for tests, to move time forward.
    """

    def __init__(
        self, policy: SecuritySettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock = clock
        self.blocking = policy.intrusion_prevention
        self.window = float(policy.intrusion_window_seconds)
        self.block_seconds = policy.intrusion_block_seconds
        self.max_tracked = policy.intrusion_max_tracked
        self.limits: dict[FailureKind, int] = {
            "auth_failures": policy.intrusion_auth_failures,
            "denials": policy.intrusion_denials,
            "not_found": policy.intrusion_not_found,
        }
        self.admin_networks: tuple[IPNetwork, ...] = tuple(policy.admin_networks)
        self._failures: OrderedDict[str, dict[FailureKind, _Recent]] = OrderedDict()
        self._blocked: OrderedDict[str, Block] = OrderedDict()

    def blocked(self, key: str) -> Block | None:
        """The block in force for this client, if any (expired blocks are forgotten)."""
        if not self._blocked:  # the usual case: one truth test
            return None
        block = self._blocked.get(key)
        if block is not None and block.until <= self.clock():
            del self._blocked[key]
            return None
        return block

    def note(self, key: str, kind: FailureKind) -> Block | None:
        """Count one failure; returns the new block when this failure reached the limit."""
        if not self.blocking:
            return None
        now = self.clock()
        per_kind = self._failures.get(key)
        if per_kind is None:
            if len(self._failures) >= self.max_tracked:
                self._failures.popitem(last=False)
            per_kind = self._failures[key] = {}
        else:
            self._failures.move_to_end(key)
        recent = per_kind.get(kind)
        if recent is None:
            recent = per_kind[kind] = _Recent(self.limits[kind])
        if not recent.add(now, self.window):
            return None
        del self._failures[key]
        block = Block(key, now + self.block_seconds, kind, self.limits[kind], self.block_seconds)
        self._remember(block)
        return block

    def admin_allowed(self, host: str) -> bool:
        """Whether this client may reach the admin routes (always, with no networks set)."""
        if not self.admin_networks:
            return True
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.admin_networks)

    @property
    def tracked(self) -> int:
        """How many client addresses have failures counted (bounded by ``max_tracked``)."""
        return len(self._failures)

    def _remember(self, block: Block) -> None:
        now = self.clock()
        for key in [k for k, b in self._blocked.items() if b.until <= now]:
            del self._blocked[key]
        while len(self._blocked) >= self.max_tracked:
            self._blocked.popitem(last=False)
        self._blocked[block.key] = block


class IntrusionPrevention:
    """The ASGI middleware applying an ``IntrusionGuard`` to every HTTP request."""

    def __init__(self, app: ASGIApp, *, guard: IntrusionGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        guard = self.guard
        client = scope.get("client")
        host = client[0] if client else "unknown"
        key = client_key(host)
        block = guard.blocked(key)
        if block is not None:
            retry = max(1, math.ceil(block.until - guard.clock()))
            await _refuse(
                send,
                429,
                "client_blocked",
                "too many failed requests from this address; try again later",
                retry_after=retry,
            )
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):  # served below a prefix: match routes as Starlette
            path = path[len(root) :]
        if guard.admin_networks and is_admin_path(path) and not guard.admin_allowed(host):
            await _refuse(
                send,
                403,
                "network_not_allowed",
                "administration is not available from this network",
            )
            await self._count(scope, key, "denials")
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if status < 401 or status > 404:
            return
        kind: FailureKind | None = None
        if status == 401:
            kind = "auth_failures"
        elif path.startswith(TRACKING_PREFIX):
            return
        elif status == 403:
            kind = "denials"
        elif status == 404 and "route" not in scope:  # no route matched: a probe
            kind = "not_found"
        if kind is not None:
            await self._count(scope, key, kind)

    async def _count(self, scope: Scope, key: str, kind: FailureKind) -> None:
        block = self.guard.note(key, kind)
        if block is None:
            return
        logger.warning(
            "a client address is blocked for %d s after %d %s", block.seconds, block.failures, kind
        )
        app = scope.get("app")
        store: Store | None = getattr(getattr(app, "state", None), "store", None)
        if store is not None:
            await anyio.to_thread.run_sync(_audit_block, store, block)


def _audit_block(store: Store, block: Block) -> None:
    """Write the block to the audit log (where the access alerts pick it up)."""
    try:
        with store.sessions.begin() as session:
            audit.record(
                session,
                principal=Principal.system("intrusion-prevention"),
                action="intrusion.blocked",
                details={
                    "network": block.key,
                    "reason": block.reason,
                    "failures": block.failures,
                    "seconds": block.seconds,
                },
            )
    except Exception:
        # The block holds whether or not it could be written down; say so, without the address.
        logger.exception("could not write an intrusion block to the audit log")


async def _refuse(
    send: Send, status: int, code: str, message: str, *, retry_after: int | None = None
) -> None:
    details = {"retry_after": retry_after} if retry_after is not None else {}
    body = orjson.dumps({"error": {"code": code, "message": message, "details": details}})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install_intrusion_prevention(
    app: Starlette, policy: SecuritySettings, *, clock: Callable[[], float] = time.monotonic
) -> IntrusionGuard:
    """Add the middleware to a Starlette/FastAPI app; its guard is ``app.state.intrusion_guard``.

    Installed even with blocking switched off, so that ``admin_networks`` still applies.
    """
    guard = IntrusionGuard(policy, clock=clock)
    app.state.intrusion_guard = guard
    app.add_middleware(IntrusionPrevention, guard=guard)
    return guard
