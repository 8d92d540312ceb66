"""Intrusion prevention at the edge: blocking failing client addresses, admin networks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from ipaddress import ip_network
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from clientvault.app import create_app
from clientvault.http.intrusion import IntrusionGuard, client_key, is_admin_path
from clientvault.security.accounts import define_role
from clientvault.security.alerts import detection
from clientvault.security.models import Alert, AuditEntry
from clientvault.security.principal import Principal
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.staff import api_sign_in, create_staff

LIMIT = 5
BLOCK_SECONDS = 600


class Clock:
    """The guard's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(db: Store, db_settings: Settings, clock: Clock) -> Callable[..., FastAPI]:
    def make(**security: Any) -> FastAPI:
        policy = db_settings.security.model_copy(
            update={
                "intrusion_auth_failures": LIMIT,
                "intrusion_denials": LIMIT,
                "intrusion_not_found": LIMIT,
                "intrusion_window_seconds": 60,
                "intrusion_block_seconds": BLOCK_SECONDS,
                **security,
            }
        )
        app = create_app(db_settings.model_copy(update={"security": policy}), store=db)
        guard: IntrusionGuard = app.state.intrusion_guard
        guard.clock = clock
        return app

    return make


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


def _client(app: FastAPI, host: str = "127.0.0.2") -> TestClient:
    return TestClient(app, base_url="https://testserver", client=(host, 50000))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with _client(app) as test_client:
        yield test_client


def test_probing_404s_block_the_address_until_the_time_is_up(
    app: FastAPI, client: TestClient, clock: Clock, db: Store, db_settings: Settings
) -> None:
    for i in range(LIMIT):
        assert client.get(f"/.env-{i}").status_code == 404
    blocked = client.get("/healthz")  # everything is refused now, not only 404s
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "client_blocked"
    assert int(blocked.headers["retry-after"]) == BLOCK_SECONDS
    with _client(app, "127.0.0.3") as other:
        assert other.get("/healthz").status_code == 200

    clock.now += BLOCK_SECONDS - 1
    assert client.get("/healthz").status_code == 429
    clock.now += 1
    assert client.get("/healthz").status_code == 200

    with db.sessions() as session:
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "intrusion.blocked")
        )
    assert entry.details == {
        "network": "127.0.0.2",
        "reason": "not_found",
        "failures": LIMIT,
        "seconds": BLOCK_SECONDS,
    }
    detection.drain(db, policy=db_settings.security)
    with db.sessions() as session:
        [alert] = session.scalars(select(Alert))
    assert (alert.kind, alert.evidence["reason"]) == ("client_blocked", "not_found")
    assert "127.0.0.2" not in str(alert.evidence) + alert.subject + alert.summary


def test_authentication_failures_block(client: TestClient) -> None:
    for _ in range(LIMIT):
        assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me").status_code == 429


def test_failures_spread_beyond_the_window_do_not_block(client: TestClient, clock: Clock) -> None:
    for _ in range(3 * LIMIT):
        assert client.get("/api/v1/me").status_code == 401
        clock.now += 60 / (LIMIT - 1) + 0.1
    assert client.get("/api/v1/me").status_code == 401


def test_a_404_from_a_route_is_an_answer_not_a_probe(
    app: FastAPI, client: TestClient, db: Store, db_settings: Settings
) -> None:
    with db.sessions.begin() as session:
        define_role(
            session,
            name="triage",
            permissions={"alerts:read"},
            description="reads alerts",
            by=Principal.system("test"),
        )
        create_staff(
            session,
            db_settings,
            email="triage@example.com",
            role="triage",
            password="violet-harbour-tangent-quarry-47",
            display_name="Triage",
        ).user.must_change_password = False
    api_sign_in(client, "triage@example.com", "violet-harbour-tangent-quarry-47")
    for alert_id in range(1, 3 * LIMIT):
        assert client.get(f"/api/v1/alerts/{alert_id}").status_code == 404
    assert client.get("/api/v1/alerts").status_code == 200


def test_tracking_payload_errors_never_block_but_bad_write_keys_do(
    client: TestClient, write_key: str
) -> None:
    key = (write_key, "")
    for _ in range(3 * LIMIT):
        assert client.post("/v1/batch", json={"batch": "nope"}, auth=key).status_code == 400
        assert client.post("/v1/track", content=b"{not json", auth=key).status_code == 400
        assert client.post("/v1/nope", json={}, auth=key).status_code == 404
    good = {"userId": "u-1", "event": "Signed Up"}
    assert client.post("/v1/track", json=good, auth=key).status_code == 200
    for _ in range(LIMIT):
        assert client.post("/v1/track", json=good, auth=("wrong-key", "")).status_code == 401
    assert client.post("/v1/track", json=good, auth=key).status_code == 429


def test_admin_routes_only_from_admin_networks(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(
        admin_networks=[ip_network("127.0.0.1/32"), ip_network("::1/128")],
        intrusion_auth_failures=100,
    )
    admin_paths = [
        "/api/v1/users",
        "/api/v1/roles",
        "/api/v1/audit",
        "/api/v1/audit/verify",
        "/api/v1/alerts",
        "/console/security/alerts",
        "/console/security/users",
    ]
    with _client(app, "127.0.0.2") as outside:
        for path in admin_paths[: LIMIT - 1]:
            refused = outside.get(path)
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "network_not_allowed"
        assert outside.get("/api/v1/me").status_code == 401  # not an admin route
        assert outside.get("/api/v1/usersx").status_code == 404  # nor is this one
        assert outside.get("/api/v1/users").status_code == 403  # the refusals add up...
        assert outside.get("/api/v1/me").status_code == 429  # ...to a block
    below_a_prefix = TestClient(
        app, base_url="https://testserver", root_path="/cv", client=("127.0.0.3", 50000)
    )
    with below_a_prefix:
        # As uvicorn serves it with --root-path: the path includes the prefix.
        assert below_a_prefix.get("/cv/api/v1/roles").status_code == 403
    for host in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        with _client(app, host) as inside:
            for path in admin_paths:  # through to authentication
                answer = inside.get(path, follow_redirects=False)
                assert answer.status_code in (401, 303), (host, path)


def test_blocking_can_be_switched_off_but_admin_networks_still_apply(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(intrusion_prevention=False, admin_networks=[ip_network("127.0.0.1/32")])
    with _client(app) as client:
        for _ in range(3 * LIMIT):
            assert client.get("/nope").status_code == 404
        assert client.get("/api/v1/users").status_code == 403


def test_the_guard_keeps_a_bounded_memory(db_settings: Settings, clock: Clock) -> None:
    policy = db_settings.security.model_copy(
        update={"intrusion_max_tracked": 100, "intrusion_not_found": 2}
    )
    guard = IntrusionGuard(policy, clock=clock)
    for i in range(1000):
        guard.note(f"127.0.{i // 250}.{i % 250}", "not_found")
    assert guard.tracked == 100
    for i in range(1000):  # every one of them blocked, the oldest blocks forgotten
        key = f"127.1.{i // 250}.{i % 250}"
        guard.note(key, "not_found")
        assert guard.note(key, "not_found") is not None
    assert len(guard._blocked) <= 100
    assert guard.blocked("127.1.3.249") is not None


def test_client_keys_and_admin_paths() -> None:
    assert client_key("127.0.0.1") == "127.0.0.1"
    assert client_key("::1") == client_key("::2") == "::/64"
    assert client_key("::ffff:127.0.0.1") == "127.0.0.1"
    assert client_key("testclient") == "testclient"
    assert is_admin_path("/api/v1/audit/head")
    assert is_admin_path("/console/security")
    assert not is_admin_path("/api/v1/auditx")
    assert not is_admin_path("/console/securityx")
