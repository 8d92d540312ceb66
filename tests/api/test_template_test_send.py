"""A template's test send, from the API and the console editor: rendered for a chosen
customer, e-mailed at once to a staff address (a loopback SMTP server) and to nobody else;
the customer's names only for staff who may see personal data, placeholder preference links."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from clientvault.app import create_app
from clientvault.identity.models import Customer
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.journeys import sign_up, template, with_mail
from support.mailbox import Mailbox, smtp_server, text_of
from support.staff import api_sign_in, bearer_headers

TEXT = "Hello {{ customer.first_name }} in {{ customer.country }}"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def mail_client(db: Store, db_settings: Settings, mailbox: Mailbox) -> Iterator[TestClient]:
    settings = with_mail(db_settings, mailbox.host, mailbox.port)
    with TestClient(create_app(settings, store=db), base_url="https://testserver") as client:
        yield client


def test_a_test_send_reaches_a_staff_address_only(
    mail_client: TestClient, db: Store, db_settings: Settings, mailbox: Mailbox
) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("a test send does not depend on the database")
    template(db, "promo", subject="Our promo", text=TEXT, html="<p>" + TEXT + "</p>")
    customer = sign_up(db, 1, first_name="Zoé")
    with db.sessions.begin() as session:
        session.execute(update(Customer).values(country="PT"))
    marketer = bearer_headers(db, db_settings, "marketer")
    admin = bearer_headers(db, db_settings, "admin")
    path = "/api/v1/email-templates/promo/test-send"

    sent = mail_client.post(path, json={"customer_id": str(customer)}, headers=marketer)
    assert sent.status_code == 200, sent.text
    assert sent.json() == {
        "to": "marketer@example.com",
        "subject": "[Test] Our promo",
        "names_revealed": False,
    }
    (first,) = mailbox.to("marketer@example.com")
    assert "Hello Ada in PT" in text_of(first)  # the sample's name: a marketer may not see hers
    assert "example.invalid/preferences" in str(first["List-Unsubscribe"])  # a placeholder

    to_customer = {"customer_id": str(customer), "to": "person.1@example.com"}
    refused = mail_client.post(path, json=to_customer, headers=marketer)
    assert refused.status_code == 422
    assert "staff" in refused.json()["error"]["message"]
    unknown = mail_client.post(
        "/api/v1/email-templates/nope/test-send",
        json={"customer_id": str(customer)},
        headers=marketer,
    )
    assert unknown.status_code == 404

    revealed = mail_client.post(
        path, json={"customer_id": str(customer), "to": "marketer@example.com"}, headers=admin
    )
    assert revealed.json()["names_revealed"] is True
    assert "Hello Zoé in PT" in text_of(mailbox.to("marketer@example.com")[-1])
    assert mailbox.to("person.1@example.com") == []

    csrf = api_sign_in(mail_client, "marketer@example.com")["x-csrf-token"]
    page = mail_client.post(
        "/console/campaigns/templates/promo/test-send",
        data={"csrf_token": csrf, "customer_id": str(customer), "to": "marketer@example.com"},
    )
    assert page.status_code == 200, page.text
    assert "sent to marketer@example.com" in page.text
    assert len(mailbox.to("marketer@example.com")) == 3
    bad = mail_client.post(
        "/console/campaigns/templates/promo/test-send",
        data={"csrf_token": csrf, "customer_id": "not-an-id", "to": "marketer@example.com"},
    )
    assert bad.status_code == 422
    assert "not a customer id" in bad.text
    editor = mail_client.get("/console/campaigns/templates/promo")
    assert 'data-form="test-send"' in editor.text
