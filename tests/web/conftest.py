"""Browser tests: Debian's chromium driven by Playwright against a real uvicorn server.

Playwright cannot download its own browsers here, so it launches the system chromium
(``CLIENTVAULT_TEST_CHROMIUM``, else ``chromium`` found on ``PATH`` as Debian installs it,
else ``/usr/bin/chromium``). Without it the browser tests are skipped (and the run's summary
says so loudly), unless ``CLIENTVAULT_TEST_REQUIRE_CHROMIUM=1`` (for CI) turns the skip into
a failure.

Fixtures:

``browser`` (session)
    One headless chromium for the whole session.
``serve_app`` (function)
    ``serve_app(asgi_app) -> base_url``: serves any ASGI app with uvicorn on a free loopback
    port in a background thread, stopped at teardown.
``live_server`` (function)
    A ``LiveServer`` (``url``, ``settings``, ``store``, ``app``): ``create_app`` on a freshly
    initialised installation (``db_settings``: SQLite, and PostgreSQL when configured). Seed
    data through ``live_server.store``; the server reads the same store.
``page_problems`` (function)
    What the page saw go wrong; ``expect_status(404, "/console/nope")`` allows one.
``page`` (function)
    A Playwright page in a fresh context whose ``base_url`` is the live server
    (``page.goto("/console")``). Every console error, uncaught page error, failed request and
    response with status >= 400 fails the test at teardown, unless the test expected it.

Mark browser tests with ``pytestmark = pytest.mark.web``.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from clientvault.app import create_app
from clientvault.settings import Settings
from clientvault.store.context import Store, open_store
from support.chromium import CHROMIUM_SKIP_REASON, find_chromium

CHROMIUM = find_chromium()
REQUIRE_CHROMIUM = os.environ.get("CLIENTVAULT_TEST_REQUIRE_CHROMIUM", "") not in ("", "0")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Playwright's default of 30 s only makes a broken test slow to report. Assertions
#: (``expect``) wait as long as actions do, rather than their own default of 5 s, which a
#: page doing real work on a loaded 2-core CI machine can exceed.
DEFAULT_TIMEOUT_MS = 10_000
SERVER_START_TIMEOUT_S = 15.0
#: How long teardown waits for the page's requests in flight before reporting them.
SETTLE_TIMEOUT_S = 5.0
#: Chromium's console line for any sub-resource or document answered with an error status.
_FAILED_LOAD = re.compile(r"^Failed to load resource: the server responded with a status of (\d+)")


# ---- browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Debian chromium for the session (skips the test if it is not installed)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed: {CHROMIUM_SKIP_REASON}"
        if REQUIRE_CHROMIUM:
            pytest.fail(reason)
        pytest.skip(reason)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


# ---- server ----------------------------------------------------------------------------------


class _ThreadedServer:
    """uvicorn serving one app from a background thread, on a socket bound before it starts."""

    def __init__(self, app: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        host, port = self._socket.getsockname()
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(
            app,
            loop="asyncio",
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"uvicorn-{port}",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive():
                self._socket.close()
                pytest.fail("the test server did not start: see the captured log above")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the test server did not start within {SERVER_START_TIMEOUT_S} s")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=SERVER_START_TIMEOUT_S)
        self._socket.close()
        if self._thread.is_alive():
            pytest.fail("the test server did not stop")


@contextmanager
def _serving(app: Any) -> Iterator[str]:
    server = _ThreadedServer(app)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def serve_app() -> Iterator[Callable[[Any], str]]:
    """Serve an ASGI app for real (uvicorn, loopback, free port); returns its base URL.

    Lifespan events run, so ``create_app``'s store is opened and closed as in production.
    Every server started through this fixture is stopped at teardown.
    """
    with ExitStack() as stack:
        yield lambda app: stack.enter_context(_serving(app))


@dataclass
class LiveServer:
    """A running clientvault server and what it was built from."""

    url: str
    settings: Settings
    store: Store
    app: Any


@pytest.fixture
def live_server(db_settings: Settings) -> Iterator[LiveServer]:
    """``create_app`` on a fresh installation, served by uvicorn in a background thread.

    The app is given an opened store, shared with the test through ``live_server.store`` so
    that a test can seed data the server then reads; it is closed after the server stops.
    """
    store = open_store(db_settings)
    try:
        app = create_app(db_settings, store=store)
        with _serving(app) as url:
            yield LiveServer(url=url, settings=db_settings, store=store, app=app)
    finally:
        store.close()


# ---- page ------------------------------------------------------------------------------------


@dataclass
class _Expected:
    status: int
    path: str


#: The console's icon (``<link rel=icon>``), fetched by the browser for the tab.
_FAVICON = "/static/favicon.svg"


@dataclass
class PageProblems:
    """Everything a page reported going wrong, minus what the test said to expect."""

    seen: list[str] = field(default_factory=list)
    expected: list[_Expected] = field(default_factory=list)
    in_flight: set[Any] = field(default_factory=set)
    #: How many navigations the page had started when each request in flight started.
    navigations: int = 0
    started_at: dict[Any, int] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)

    def expect_status(self, status: int, path: str) -> None:
        """Allow responses with ``status`` for URLs whose path is ``path`` (and the console
        line chromium logs for them)."""
        self.expected.append(_Expected(status, path))

    def expect_download(self, path: str) -> None:
        """Allow the abort chromium reports for a form POST to ``path`` answered with a
        download (an attachment ends that navigation; a GET link's does not show up)."""
        self.downloads.append(path)

    def _is_expected(self, status: int, url: str) -> bool:
        path = urlsplit(url).path
        return any(e.status == status and e.path == path for e in self.expected)

    def on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        location = message.location or {}
        url = location.get("url", "")
        failed = _FAILED_LOAD.match(message.text)
        if failed and self._is_expected(int(failed.group(1)), url):
            return
        self.seen.append(f"console error: {message.text} (at {url or 'unknown location'})")

    def on_page_error(self, error: Any) -> None:
        self.seen.append(f"uncaught page error: {error}")

    def on_request(self, request: Any) -> None:
        if request.is_navigation_request():
            self.navigations += 1
        self.started_at[request] = self.navigations
        self.in_flight.add(request)

    def on_request_finished(self, request: Any) -> None:
        self.in_flight.discard(request)
        self.started_at.pop(request, None)

    def on_request_failed(self, request: Any) -> None:
        self.in_flight.discard(request)
        started = self.started_at.pop(request, self.navigations)
        # A page that navigates (a link, a submitted form) cancels the sub-resources it was
        # still loading, icons say: chromium reports them aborted. That is the browser's doing;
        # an abort with no navigation after the request began is still a problem.
        if request.failure == "net::ERR_ABORTED" and self.navigations > started:
            return
        # The tab's icon is the browser's own fetch, not the page's: chromium cancels it when
        # it likes (seen once in a full run, with no navigation after it). An icon answered
        # with an error is still caught by ``on_response``.
        if request.failure == "net::ERR_ABORTED" and urlsplit(request.url).path == _FAVICON:
            return
        if request.failure == "net::ERR_ABORTED" and urlsplit(request.url).path in self.downloads:
            return
        self.seen.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def on_response(self, response: Any) -> None:
        if response.status >= 400 and not self._is_expected(response.status, response.url):
            self.seen.append(f"HTTP {response.status}: {response.request.method} {response.url}")


@pytest.fixture
def page_problems() -> PageProblems:
    """The problems the ``page`` fixture records; call ``expect_status`` to allow one."""
    return PageProblems()


@pytest.fixture
def page(browser: Any, live_server: LiveServer, page_problems: PageProblems) -> Iterator[Any]:
    """A fresh browser page on the live server that fails the test on any page problem."""
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 1280, "height": 800},
        locale="en-GB",
        timezone_id="UTC",
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    # Playwright is importable here: the ``browser`` fixture skipped the test otherwise.
    from playwright.sync_api import expect

    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    new_page = context.new_page()
    new_page.on("console", page_problems.on_console)
    new_page.on("pageerror", page_problems.on_page_error)
    new_page.on("request", page_problems.on_request)
    new_page.on("requestfinished", page_problems.on_request_finished)
    new_page.on("requestfailed", page_problems.on_request_failed)
    new_page.on("response", page_problems.on_response)
    try:
        yield new_page
        # Requests still in flight (icons, deferred scripts, fetches) must end, and their
        # events be delivered, before the verdict.
        _settle(new_page, page_problems)
        problems = list(page_problems.seen)
    finally:
        context.close()
    if problems:
        pytest.fail("the page reported problems:\n  " + "\n  ".join(problems), pytrace=False)


def _settle(page: Any, problems: PageProblems) -> None:
    if page.is_closed():
        return
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    page.wait_for_timeout(0)  # deliver the events Playwright has already received
    while problems.in_flight and time.monotonic() < deadline:
        page.wait_for_timeout(20)
    for request in problems.in_flight:
        problems.seen.append(f"request still pending at the end: {request.method} {request.url}")
