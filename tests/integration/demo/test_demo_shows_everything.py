"""A small demo installation, showcase steps included, shows something on every page the
console's navigation offers, and its identity step leaves pairs to review."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from clientvault.app import create_app
from clientvault.demo.showcase import run_showcase
from clientvault.demo.summary import DemoSummary
from clientvault.identity.models import Customer, MatchCandidate
from clientvault.messaging import delivery
from clientvault.messaging.catcher import catching_mail
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.web.navigation import NavLink, build_navigation, page_exists
from support.staff import bearer_headers

CUSTOMERS = 60
#: What a console page shows when a list of it is empty (``empty-row``, see the templates).
EMPTY = re.compile(r'class="empty-row"')
#: Pages a fresh demo leaves empty on purpose, and why.
MAY_BE_EMPTY = {
    "/console/imports": "lists the imports uploaded in the console: the demo's data is "
    "generated, not uploaded (the upload form is on the page)",
    "/console/security/alerts": "raised by the rules as staff work: a fresh installation has "
    "none, and a planted one would teach people to ignore alerts",
}


def _available(links: tuple[NavLink, ...]) -> list[str]:
    found = []
    for link in links:
        if link.available:
            found.append(link.path)
        found += _available(link.children)
    return found


@pytest.mark.slow
def test_every_navigation_page_of_a_small_demo_shows_something(
    db: Store, db_settings: Settings, generate: Callable[..., DemoSummary], tmp_path: Path
) -> None:
    generate(db, 42, customers=CUSTOMERS)
    # As `clientvault demo` does it: the first admin exists before the showcase steps run.
    admin = bearer_headers(db, db_settings, "admin")
    lines = run_showcase(db, db_settings)
    assert any(line.startswith("Identity matching:") for line in lines)
    with db.read_sessions() as session:
        merged = session.scalar(
            select(func.count()).select_from(Customer).where(Customer.status == "merged")
        )
        candidates = session.scalar(select(func.count()).select_from(MatchCandidate))
    assert merged
    assert candidates
    # As `clientvault demo` serves it: env=dev, the outbox delivered to the mail catcher.
    dev = db_settings.model_copy(update={"env": "dev", "data_dir": tmp_path / "dev"})
    with catching_mail(dev) as settings:
        assert settings.smtp.enabled
        assert delivery.drain(db, settings.smtp) == 3  # the demo requests' receipts
    app = create_app(settings, store=db)
    with TestClient(app, base_url="https://testserver") as client:
        pages = _available(build_navigation("/console", lambda path: page_exists(app.routes, path)))
        assert "/console/customers" in pages
        assert "/console/dev/mailbox" in pages  # dev only
        empty = []
        for path in pages:
            answer = client.get(path, headers=admin)
            assert answer.status_code == 200, (path, answer.status_code)
            if EMPTY.search(answer.text) and path not in MAY_BE_EMPTY:
                empty.append(path)
        mailbox = client.get("/console/dev/mailbox", headers=admin).text
        opened = re.search(r'href="(/console/dev/mailbox/[0-9a-f-]+)"', mailbox)
        assert opened is not None
        message = client.get(opened.group(1), headers=admin).text
        assert re.search(r'<a href="http[^"]+/preferences/verify\?token=', message)
    assert empty == [], empty
