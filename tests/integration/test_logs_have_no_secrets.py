"""Canary e-mails, phone numbers, names, passwords and tokens never reach the logs.

A realistic session goes through the app with every logger at DEBUG — the application's,
SQLAlchemy's (statements, parameters and rows), uvicorn's (errors and access log), the
multipart parser's — and every record is searched for the canaries:

* fixed ones, all carrying ``TAG`` (staff and customer e-mails, names, the passwords, a wrong
  password, an unknown account's e-mail), searched case-insensitively, also URL-encoded;
* phone numbers, by their digits;
* secrets the app hands out during the session: session cookie, CSRF token, TOTP secret,
  recovery codes, one-time password, API token, write key.

The same session runs twice: through TestClient (in-process, as the API tests do), and
through a real uvicorn server over TLS in a thread (so uvicorn's access and error logs are in
the capture, and unhandled errors are logged the way production logs them).

A record is searched whole: the formatted message, its arguments' ``repr``, any exception
and stack text, and any extra attributes a handler could print. Two kinds are exempt, for
the reasons ``_exempt`` gives: the test's own HTTP client, and SQLAlchemy's result-row dumps.
SQL statements and their parameters are not exempt: engines must hide parameters.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
import pyotp
import pytest
import uvicorn
from fastapi.testclient import TestClient

from clientvault.app import create_app
from clientvault.automation.worker import run_until_idle
from clientvault.domains import CONSUMERS
from clientvault.identity.profiles import find_by_email, reveal_identifiers
from clientvault.ingest.sources import create_source
from clientvault.security.certificates import create_self_signed
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.staff import create_staff

#: In no code, fixture or generated value, and long enough (8 characters, not hexadecimal) that
#: random ciphertexts, hashes and tokens in SQL logs cannot match it by chance.
TAG = "qz7kxw4v"
ADMIN_EMAIL = f"Canary.Admin.{TAG}@example.com"
ADMIN_PASSWORD = f"canary-{TAG}-violet-harbour-tangent-quarry"
NEW_PASSWORD = f"canary-{TAG}-amber-lantern-glacier-minnow"
WRONG_PASSWORD = f"canary-{TAG}-not-the-password-at-all"
UNKNOWN_EMAIL = f"canary.nobody.{TAG}@example.com"
STAFF_EMAIL = f"canary.support.{TAG}@example.com"
CUSTOMERS = [
    {
        "email": f"Canary.Customer{i}.{TAG}@example.com",
        "phone": f"+33 6 47 28 19 {50 + i}",
        "firstName": f"Zorblatt{TAG}{i}",
        "lastName": f"Quimperle{TAG}{i}",
    }
    for i in range(3)
]
PHONE_DIGITS = ["64728195"]  # the digits every canary number shares, however formatted
RELEVANT_LOGGERS = (
    "clientvault",
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "sqlalchemy.orm",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "fastapi",
    "starlette",
    "multipart",
    "python_multipart",
    "asyncio",
)


# ---- capture --------------------------------------------------------------------------------


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record at DEBUG, also from loggers that do not propagate (uvicorn's, once
    configured by an earlier test), for the length of the test."""
    caplog.set_level(logging.DEBUG)
    names = set(RELEVANT_LOGGERS) | {
        name
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET
    }
    for name in names:
        caplog.set_level(logging.DEBUG, logger=name)
    detached = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in detached:
        logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        for logger in detached:
            logger.removeHandler(caplog.handler)


_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _text(record: logging.LogRecord) -> str:
    parts = [record.name, str(record.msg)]
    with suppress(TypeError, ValueError):  # a bad format string: the arguments are still searched
        parts.append(record.getMessage())
    parts.append(repr(record.args))
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    parts += [record.exc_text or "", record.stack_info or ""]
    parts += [f"{k}={v!r}" for k, v in vars(record).items() if k not in _STANDARD]
    return "\n".join(parts)


def _exempt(record: logging.LogRecord) -> bool:
    """Records that are not the server's logs, or that no application code can make safe.

    * The test's own HTTP client (httpx2 and httpcore2 print response headers, cookies
      included, at DEBUG): it plays the browser, whose secrets these are.
    * SQLAlchemy's result rows (``Row %r`` and ``Col %r`` at DEBUG): rows are dumped verbatim,
      so any column stored in the clear (a staff member's sign-in e-mail, a session's CSRF
      token) shows. Nothing in clientvault can turn them on: ``database.echo`` goes up to
      INFO (statements and parameters), and parameters are searched like everything else.
    """
    if record.name.startswith(("httpx", "httpcore")):
        return True
    return record.name.startswith("sqlalchemy.engine") and record.msg in ("Row %r", "Col %r")


def _leaks(records: list[logging.LogRecord], secrets: list[str]) -> list[str]:
    """Each record holding a canary, as ``logger level: what (where in the text)``."""
    needles = [TAG, *PHONE_DIGITS, *secrets]
    needles += [quote(needle, safe="") for needle in needles]
    found = []
    for record in records:
        if _exempt(record):
            continue
        text = _text(record)
        lowered = text.lower()
        for needle in dict.fromkeys(needles):
            at = lowered.find(needle.lower())
            if at >= 0:
                around = text[max(0, at - 80) : at + len(needle) + 40].replace("\n", " ")
                found.append(f"{record.name} {record.levelname}: {needle!r} in …{around}…")
                break
    return found


# ---- the session ----------------------------------------------------------------------------


def _user(db: Store, settings: Settings, email: str, role: str, password: str) -> None:
    with db.sessions.begin() as session:
        create_staff(
            session,
            settings,
            email=email,
            role=role,
            password=password,
            display_name=f"Canary {TAG}",
        )


def _console_sign_in_fails(client: httpx2.Client) -> None:
    page = client.get("/console/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if page.status_code != 200 or match is None:
        pytest.fail(f"no console sign-in form: {page.status_code}")
    refused = client.post(
        "/console/login",
        data={"email": ADMIN_EMAIL, "password": WRONG_PASSWORD, "csrf_token": match[1]},
    )
    assert refused.status_code == 401, refused.status_code


def _session(client: httpx2.Client, db: Store, settings: Settings, write_key: str) -> list[str]:
    """Sign-in failures and success, MFA, staff admin, tokens, a password change, tracking,
    an import, consumers and a reveal; returns the secrets handed out on the way."""
    secrets = [write_key]
    _user(db, settings, ADMIN_EMAIL, "admin", ADMIN_PASSWORD)
    _console_sign_in_fails(client)

    login = "/api/v1/auth/login"
    assert (
        client.post(login, json={"email": UNKNOWN_EMAIL, "password": WRONG_PASSWORD}).status_code
        == 401
    )
    assert (
        client.post(login, json={"email": ADMIN_EMAIL, "password": WRONG_PASSWORD}).status_code
        == 401
    )
    invalid = client.post(login, json={"email": ADMIN_EMAIL, "password": WRONG_PASSWORD, "x": 1})
    assert invalid.status_code == 422
    signed_in = client.post(login, json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    csrf = {"x-csrf-token": signed_in.json()["csrf_token"]}
    secrets += [csrf["x-csrf-token"], client.cookies["__Host-cv_session"]]

    enrolment = client.post("/api/v1/auth/mfa/enrol", headers=csrf).json()
    totp = pyotp.TOTP(enrolment["secret"])
    confirmed = client.post("/api/v1/auth/mfa/confirm", json={"code": totp.now()}, headers=csrf)
    assert confirmed.status_code == 200, confirmed.text
    secrets += [enrolment["secret"], *confirmed.json()["recovery_codes"]]
    csrf = {"x-csrf-token": confirmed.json()["csrf_token"]}  # a new session once MFA is passed
    secrets += [csrf["x-csrf-token"], client.cookies["__Host-cv_session"]]

    added = client.post(
        "/api/v1/users", json={"email": STAFF_EMAIL, "role": "support"}, headers=csrf
    )
    assert added.status_code == 201, added.text
    secrets.append(added.json()["one_time_password"])
    issued = client.post(
        "/api/v1/me/tokens",
        json={"name": "ci", "scopes": ["audit:read", "users:manage"], "days": 7},
        headers=csrf,
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    secrets.append(token)
    bearer = {"authorization": f"Bearer {token}"}
    cookies = httpx2.Cookies(client.cookies)
    client.cookies.clear()
    assert client.get("/api/v1/users", headers=bearer).status_code == 200
    assert (
        client.get("/api/v1/users", headers={"authorization": "Bearer cv_nope"}).status_code == 401
    )
    client.cookies = cookies

    changed = client.post(
        "/api/v1/auth/password",
        json={"current": ADMIN_PASSWORD, "new": NEW_PASSWORD},
        headers=csrf,
    )
    assert changed.status_code == 200, changed.text
    secrets.append(client.cookies["__Host-cv_session"])

    _track(client, write_key)
    _import(client, changed.json()["csrf_token"])
    run_until_idle(db, CONSUMERS)
    _reveal(db)
    assert (
        client.post(
            "/api/v1/auth/logout", headers={"x-csrf-token": changed.json()["csrf_token"]}
        ).status_code
        == 204
    )
    return secrets


def _track(client: httpx2.Client, write_key: str) -> None:
    auth = (write_key, "")
    first = CUSTOMERS[0]
    identify = {"userId": "u-1", "traits": first, "messageId": "m-1"}
    assert client.post("/v1/identify", json=identify, auth=auth).status_code == 200
    track = {
        "userId": "u-1",
        "event": "Order Completed",
        "messageId": "m-2",
        "properties": {
            "order_id": "o-1",
            "total": "not a number",
            "note": f"call {first['phone']} or write to {first['email']}",
            "billing_email": first["email"],
        },
    }
    assert client.post("/v1/track", json=track, auth=auth).status_code == 200
    page = {
        "anonymousId": "anon-1",
        "name": "Checkout",
        "messageId": "m-3",
        "context": {"page": {"url": f"https://shop.example.com/?email={first['email']}"}},
    }
    assert client.post("/v1/page", json=page, auth=auth).status_code == 200
    batch = {
        "batch": [
            {"type": "identify", "userId": "u-2", "traits": CUSTOMERS[1], "messageId": "m-4"},
            {"type": "track", "userId": "u-2", "messageId": "m-5", "event": 7},
            {"type": "nonsense", "traits": {"email": CUSTOMERS[2]["email"]}},
        ]
    }
    assert client.post("/v1/batch", json=batch, auth=auth).status_code == 200
    bad = client.post(
        "/v1/track",
        content=f'{{"event": "x", "email": "{first["email"]}"'.encode(),
        auth=auth,
        headers={"content-type": "application/json"},
    )
    assert bad.status_code == 400
    refused = client.post("/v1/identify", json=identify, auth=(f"wk_{TAG}", ""))
    assert refused.status_code == 401


def _import(client: httpx2.Client, csrf_token: str) -> None:
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["email", "phone", "first_name", "last_name"])
    for person in CUSTOMERS[1:]:
        writer.writerow([person["email"], person["phone"], person["firstName"], person["lastName"]])
    writer.writerow([f"not-an-email-{TAG}", "12", f"Bad{TAG}", ""])
    response = client.post(
        "/api/v1/imports/customers",
        files={"file": ("people.csv", rows.getvalue().encode(), "text/csv")},
        headers={"x-csrf-token": csrf_token},
    )
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == 1


def _reveal(db: Store) -> None:
    agent = Principal.system("support-case", PII_REVEAL)
    with db.sessions() as session:
        ids = find_by_email(session, db, email=CUSTOMERS[1]["email"])
    with db.sessions.begin() as session:
        opened = reveal_identifiers(
            session, db, principal=agent, customer_ids=ids, fields=["email"], reason="t"
        )
    assert [p.email for p in opened.values()] == [CUSTOMERS[1]["email"].lower()]


# ---- transports -----------------------------------------------------------------------------


@contextmanager
def _testclient(db: Store, settings: Settings, _tmp: Path) -> Iterator[httpx2.Client]:
    with TestClient(create_app(settings, store=db), base_url="https://testserver") as client:
        yield client


@contextmanager
def _uvicorn_tls(db: Store, settings: Settings, tmp: Path) -> Iterator[httpx2.Client]:
    """The app under a real uvicorn (TLS with a fresh development certificate, access log
    on, uvicorn's own logging configuration left out so its records reach the capture)."""
    certificate = create_self_signed(tmp / "tls")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings, store=db),
        ssl_certfile=str(certificate.cert_path),
        ssl_keyfile=str(certificate.key_path),
        log_config=None,
        log_level="debug",
        access_log=True,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start in time"
        time.sleep(0.01)
    verify = ssl.create_default_context(cafile=str(certificate.cert_path))
    try:
        with httpx2.Client(base_url=f"https://localhost:{port}", verify=verify) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


TRANSPORTS: dict[str, Callable[[Store, Settings, Path], AbstractContextManager[httpx2.Client]]] = {
    "testclient": _testclient,
    "uvicorn-tls": _uvicorn_tls,
}


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_no_canary_reaches_any_log(
    transport: str,
    db: Store,
    db_settings: Settings,
    tmp_path: Path,
    every_log: pytest.LogCaptureFixture,
) -> None:
    with db.sessions.begin() as session:
        write_key = create_source(session, name="shop").write_key
    with TRANSPORTS[transport](db, db_settings, tmp_path) as client:
        secrets = _session(client, db, db_settings, write_key)

    records = every_log.records
    assert len(records) > 50, "the capture saw almost nothing: is logging wired?"
    assert any(r.name.startswith("sqlalchemy.engine") for r in records)
    if transport == "uvicorn-tls":
        assert any(r.name == "uvicorn.access" for r in records)
    leaks = _leaks(records, secrets)
    assert leaks == [], "\n".join(leaks[:40])


def test_the_search_finds_a_canary_in_each_part_of_a_record() -> None:
    """The checker itself: a canary in the message, the arguments, the exception or an
    extra attribute is found; a clean record is not flagged."""

    def record(**fields: Any) -> logging.LogRecord:
        return logging.makeLogRecord({"name": "t", "levelname": "INFO", "msg": "ok", **fields})

    try:
        raise ValueError(f"bad input {CUSTOMERS[0]['email']}")
    except ValueError:
        exc_info = sys.exc_info()
    secret = "s3cr3t-token-value"
    assert _leaks([record()], [secret]) == []
    row = record(name="sqlalchemy.engine.Engine", msg="Row %r", args=((STAFF_EMAIL,),))
    assert _leaks([row], [secret]) == []  # exempt: see _exempt
    parameters = record(name="sqlalchemy.engine.Engine", msg="[%s] %r", args=("x", (secret,)))
    for leaky in (
        record(msg="user %s", args=(ADMIN_EMAIL,)),
        record(msg=f"phone {CUSTOMERS[1]['phone'].replace(' ', '')}"),
        record(exc_info=exc_info),
        record(extra_field={"token": secret}),
        record(msg=f"GET /x?e={quote(STAFF_EMAIL, safe='')}"),
        parameters,
    ):
        assert len(_leaks([leaky], [secret])) == 1
