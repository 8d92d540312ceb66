"""The 360° page over HTTP: the reveal window (a POSTed reason, never in a URL, holding for
the session a few minutes, in the review queue too), traits as chips, the actions
(export, erase with its confirmation and certificate, consent on the customer's behalf,
a data-subject request), and what the other domains know of the person (segments, scores,
tickets, recommendations), shown to a reader without ``pii:reveal`` too."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from clientvault.app import create_app
from clientvault.customers.scores import Score, replace_scores
from clientvault.identity.models import Customer, MatchCandidate
from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.predict.personal import train_recommender
from clientvault.privacy.models import ConsentRecord
from clientvault.privacy.requests.models import DataSubjectRequest
from clientvault.security.models import AuditEntry, StaffSession
from clientvault.security.principal import Principal
from clientvault.segments.service import SegmentIn, save_segment
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from clientvault.support import tickets
from support.predict import grant, make_shop, sign_in_staff
from support.staff import api_sign_in_with_mfa, bearer_headers, create_staff

REASON = "customer-called-about-order-7781"
LYON = {"type": "attribute", "field": "city", "values": ["Lyon"]}


def _seed(db: Store) -> tuple[uuid.UUID, uuid.UUID]:
    with db.sessions.begin() as session:
        ids = create_customers(
            session,
            db,
            profiles=[
                CustomerCreate(
                    first_name="Lena",
                    email="lena@example.com",
                    city="Lyon",
                    traits={"interests": ["travel", "outdoor"], "vip": True},
                ),
                CustomerCreate(first_name="Lena", phone="0612345678", city="Nice"),
            ],
            source="web",
            default_region="FR",
        )
        left, right = sorted(ids)
        session.add(
            MatchCandidate(
                left_id=left,
                right_id=right,
                match_probability=0.8,
                match_weight=3.0,
                explanation=[],
                model_version="test",
            )
        )
    return ids[0], ids[1]


def _admin(client: TestClient, db: Store, settings: Settings) -> str:
    """An administrator signed in with their second factor; returns the session's CSRF token."""
    with db.sessions.begin() as session:
        user = create_staff(session, settings, email="admin@example.com", role="admin").user
        user.must_change_password = False
    return api_sign_in_with_mfa(client, db, "admin@example.com")["x-csrf-token"]


class AccessLog:
    """The app behind a recorder of what a server's access log writes: each request's
    method, path and query string, as the server received them."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lines: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            query = scope["query_string"].decode("latin-1")
            self.lines.append(f"{scope['method']} {scope['path']}?{query}")
        await self.app(scope, receive, send)


def test_a_reveal_reason_travels_in_a_post_body_and_never_in_a_url(
    db: Store, db_settings: Settings
) -> None:
    first, _ = _seed(db)
    log = AccessLog(create_app(db_settings, store=db))
    with TestClient(log, base_url="https://testserver") as client:
        csrf = _admin(client, db, db_settings)
        masked = client.get(f"/console/customers/{first}")
        # Traits read as chips, never Python reprs.
        assert '<li class="chip">travel</li><li class="chip">outdoor</li>' in masked.text
        assert "['travel'" not in masked.text
        assert "True" not in masked.text
        refused = client.get(f"/console/customers/{first}", params={"reason": "via the url"})
        opened = client.post(
            "/console/reveal",
            data={"csrf_token": csrf, "reason": REASON, "back": f"/console/customers/{first}"},
            follow_redirects=False,
        )
        assert opened.status_code == 303
        assert REASON not in opened.headers["location"]
        page = client.get(opened.headers["location"])
        review = client.get("/console/identity/review")
    assert "lena@example.com" not in masked.text
    assert "lena@example.com" in page.text
    assert REASON in page.text
    assert "lena@example.com" in review.text  # the queue does not ask again
    assert "lena@example.com" not in refused.text  # a reason in a URL opens nothing
    assert len(log.lines) >= 6
    assert [line for line in log.lines if REASON in line] == []
    with db.sessions() as session:
        reasons = set(
            session.scalars(select(AuditEntry.reason).where(AuditEntry.action == "pii.reveal"))
        )
        opened_entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "pii.reveal_window_opened")
        ).all()
    assert reasons == {REASON}
    assert [entry.reason for entry in opened_entries] == [REASON]


def test_the_reveal_window_closes_on_request_and_when_it_runs_out(
    db: Store, db_settings: Settings
) -> None:
    first, _ = _seed(db)
    with TestClient(create_app(db_settings, store=db), base_url="https://testserver") as client:
        csrf = _admin(client, db, db_settings)
        back = f"/console/customers/{first}"
        client.post("/console/reveal", data={"csrf_token": csrf, "reason": REASON, "back": back})
        client.post("/console/reveal/close", data={"csrf_token": csrf, "back": back})
        closed = client.get(back)
        client.post("/console/reveal", data={"csrf_token": csrf, "reason": REASON, "back": back})
        with db.sessions.begin() as session:
            session.execute(update(StaffSession).values(reveal_until=utcnow() - timedelta(1)))
        expired = client.get(back)
        outside = client.post(
            "/console/reveal",
            data={"csrf_token": csrf, "reason": REASON, "back": "https://evil.example/x"},
            follow_redirects=False,
        )
    assert "lena@example.com" not in closed.text
    assert "lena@example.com" not in expired.text
    assert outside.headers["location"] == "/console"


def test_export_erase_consent_and_request_from_the_360_page(
    db: Store, db_settings: Settings
) -> None:
    first, second = _seed(db)
    with TestClient(create_app(db_settings, store=db), base_url="https://testserver") as client:
        csrf = _admin(client, db, db_settings)
        page = client.get(f"/console/customers/{first}")
        grant(db, [first], "personalisation")
        untrained = client.get(f"/console/customers/{first}").text
        export = client.post(
            f"/console/customers/{first}/export", data={"csrf_token": csrf, "reason": "access"}
        )
        consent = client.post(
            f"/console/customers/{first}/consents",
            data={
                "csrf_token": csrf,
                "purpose": "marketing_email",
                "decision": "withdrawn",
                "channel": "phone",
                "proof_ref": "call 2024-118",
            },
            follow_redirects=False,
        )
        bad_channel = client.post(
            f"/console/customers/{first}/consents",
            data={
                "csrf_token": csrf,
                "purpose": "marketing_email",
                "decision": "granted",
                "channel": "pigeon",
            },
        )
        request = client.post(
            f"/console/customers/{first}/requests",
            data={"csrf_token": csrf, "kind": "access", "regime": "gdpr"},
            follow_redirects=False,
        )
        confirm = client.get(f"/console/customers/{second}/erase")
        unconfirmed = client.post(
            f"/console/customers/{second}/erase",
            data={"csrf_token": csrf, "reason": "erasure request", "confirm": "yes"},
        )
        erased = client.post(
            f"/console/customers/{second}/erase",
            data={"csrf_token": csrf, "reason": "erasure request", "confirm": "ERASE"},
            follow_redirects=False,
        )
        certificate = client.get(erased.headers["location"])
    assert 'data-panel="actions"' in page.text
    # Why nothing is recommended; the other domains' panels say they are empty.
    assert "has not consented to personalisation" in page.text
    assert "Nothing recommended: no recommender is trained yet" in untrained
    assert "In no segment." in untrained
    assert "No score computed." in untrained
    assert "No ticket." in untrained
    assert export.status_code == 200
    assert export.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        assert "lena@example.com" in archive.read("export.json").decode()
    assert consent.status_code == 303
    assert consent.headers["location"].endswith("done=consent")
    assert bad_channel.status_code == 422
    assert "unknown channel" in bad_channel.text.lower()
    assert request.status_code == 303
    assert "/console/privacy/requests/" in request.headers["location"]
    assert "Type ERASE to confirm" in confirm.text
    assert unconfirmed.status_code == 422
    assert erased.status_code == 303
    assert certificate.status_code == 200
    assert "Erasure certificate" in certificate.text
    assert str(second) in certificate.text
    with db.sessions() as session:
        record = session.scalars(
            select(ConsentRecord).where(ConsentRecord.channel == "phone")
        ).one()
        assert (record.decision, record.proof_ref, record.source) == (
            "withdrawn",
            "call 2024-118",
            "console",
        )
        dsr = session.scalars(select(DataSubjectRequest)).one()
        assert (dsr.customer_id, dsr.kind, dsr.channel) == (first, "access", "console")
        gone = session.get(Customer, second)
        assert gone is None or gone.status == "erased"
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"consent.recorded_on_behalf", "privacy.erasure", "privacy.export"} <= actions


def test_the_api_reveals_with_the_reason_in_the_body(db: Store, db_settings: Settings) -> None:
    first, _ = _seed(db)
    dpo = bearer_headers(db, db_settings, "dpo")
    log = AccessLog(create_app(db_settings, store=db))
    with TestClient(log, base_url="https://testserver") as client:
        identifiers = client.post(
            f"/api/v1/customers/{first}/identifiers",
            json={"reason": REASON, "fields": ["email"]},
            headers=dpo,
        )
        view = client.post(f"/api/v1/customers/{first}/360", json={"reason": REASON}, headers=dpo)
        export = client.post(
            f"/api/v1/privacy/customers/{first}/export", json={"reason": REASON}, headers=dpo
        )
    assert identifiers.json()["email"] == "lena@example.com"
    assert view.json()["golden"]["values"]["email"]["value"] == "lena@example.com"
    assert export.status_code == 200
    assert [line for line in log.lines if REASON in line] == []


def _person_known_to_every_domain(db: Store, settings: Settings) -> tuple[uuid.UUID, str]:
    """A shop whose customers bought (a recommender is trained on them); one of them is in a
    segment, has scores and a resolved ticket with a CSAT answer. Returns the customer and
    the ticket's subject (sealed: the page must not show it)."""
    shop = make_shop(db, customers=40, days=120)
    grant(db, shop.customers[10:], "personalisation")
    person = shop.customers[12]
    subject = "Parcel never arrived"
    with db.sessions.begin() as session:
        save_segment(
            session,
            SegmentIn(slug="lyon", name="Lyon shoppers", rules=LYON),
            principal=Principal.system("test", "segments:manage"),
            zone="UTC",
        )
        replace_scores(
            session, "rfm_group", [Score(person, label="at_risk")], model_version="rfm-1"
        )
        replace_scores(
            session, "churn_probability", [Score(person, value=0.1234)], model_version="churn-7"
        )
        replace_scores(
            session, "clv_predicted", [Score(person, value=1234.5)], model_version="bgnbd-2"
        )
        train_recommender(session)
        ticket = tickets.open_ticket(
            session,
            db,
            tickets.NewTicket(customer_id=person, subject=subject, category="delivery"),
            zone=settings.zone,
        )
        tickets.resolve(
            session, db, ticket_id=ticket.id, principal=Principal.system("test"), settings=settings
        )
        tickets.record_csat(session, ticket_id=ticket.id, score=4)
    return person, subject


def test_the_360_page_shows_segments_scores_tickets_and_recommendations(
    db: Store, db_settings: Settings
) -> None:
    person, subject = _person_known_to_every_domain(db, db_settings)
    with TestClient(create_app(db_settings, store=db), base_url="https://testserver") as client:
        sign_in_staff(client, db, db_settings, role="onlooker", permissions={"customers:read"})
        page = client.get(f"/console/customers/{person}")
    assert page.status_code == 200
    html = page.text
    assert '<a href="/console/segments/lyon"' in html
    assert "Lyon shoppers" in html
    assert '<tr data-score="rfm_group">' in html
    assert '<span class="chip">at risk</span>' in html
    assert "12.3 %" in html  # the churn probability, as a percentage
    assert "1,234.50" in html  # the predicted lifetime value, an amount
    assert "churn-7" in html
    assert "bgnbd-2" in html
    tickets_table = html.split('data-table="tickets"')[1].split("</table>")[0]
    assert "resolved" in tickets_table
    assert "4 / 5" in tickets_table
    assert "delivery" in tickets_table
    assert subject not in html  # sealed: an onlooker never reads it
    assert "/console/support/tickets/" not in html  # no link without support:handle
    recommended = html.split('data-table="recommendations"')[1].split("</table>")[0]
    assert recommended.count("<tr data-sku=") >= 1
    assert "{'" not in html
    assert "[(" not in html
    assert "Segment object" not in html
