"""Personalised content slots and the next best offer: chosen from consented data only,
the default for anyone else, ``Content Shown`` recorded only when the page may track."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from clientvault.automation.journeys.engine import JOURNEY_CONSUMER, advance_due
from clientvault.automation.personalize import offers, slots
from clientvault.customers.scores import Score, put_scores
from clientvault.errors import InvalidInput, NotFound
from clientvault.ingest import consumers
from clientvault.ingest.commerce.models import Product
from clientvault.ingest.models import Event
from clientvault.messaging import delivery
from clientvault.migrations.schema import load_holders
from clientvault.predict.personal import set_product_flags
from clientvault.privacy.erasure import erase_customer
from clientvault.security.principal import Principal
from clientvault.segments.service import SegmentIn, save_segment
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from support.journeys import decide, journey, template, track, with_mail
from support.mailbox import smtp_server, text_of
from support.personalize import HERO, MARKETER, visitor

DPO = Principal.system("test-dpo", "privacy:manage")


def shown(store: Store) -> list[dict[str, Any]]:
    with store.sessions() as session:
        return [
            e.properties
            for e in session.scalars(
                select(Event).where(Event.name == "Content Shown").order_by(Event.id)
            )
        ]


def save(store: Store, document: dict[str, Any]) -> None:
    with store.sessions.begin() as session:
        slots.save_slot(session, slots.read_spec(document), create=True, by=MARKETER)


def test_each_visitor_gets_the_first_variant_they_meet(db: Store) -> None:
    lyon = visitor(db, 1, city="Lyon")
    champion = visitor(db, 2)
    nobody = visitor(db, 3, consent=False)
    with db.sessions.begin() as session:
        save_segment(
            session,
            SegmentIn(
                slug="lyon",
                name="Lyon",
                rules={"type": "attribute", "field": "city", "values": ["Lyon"]},
            ),
            principal=MARKETER,
            zone="UTC",
        )
        put_scores(
            session,
            "rfm_segment",
            [Score(c, label="champions") for c in (lyon, champion, nobody)],
            model_version="test",
        )
    save(db, HERO)

    def seen(anonymous_id: str | None, *, record: bool = True) -> tuple[str, str]:
        with db.sessions.begin() as session:
            d = slots.decide(
                session, db, key="homepage-hero", anonymous_id=anonymous_id, record=record
            )
        return d.variant, d.reason

    assert seen("anon-1") == ("vip", "condition met: segment")  # first match wins
    assert seen("anon-2") == ("champions", "condition met: score")
    # A champion who never consented to personalisation: the default, whatever they score.
    assert seen("anon-3") == ("default", "no consent to personalisation")
    assert seen("someone-new") == ("default", "anonymous visitor")
    assert seen(None, record=False) == ("default", "anonymous visitor")
    assert [(p["slot"], p["variant"]) for p in shown(db)] == [
        ("homepage-hero", "vip"),
        ("homepage-hero", "champions"),
        ("homepage-hero", "default"),
        ("homepage-hero", "default"),
    ]
    # Consent withdrawn: the next page view is generic again.
    decide(db, champion, "withdrawn", purpose="personalisation")
    assert seen("anon-2", record=False) == ("default", "no consent to personalisation")
    # Erased: nothing of theirs is used (their anonymous id no longer leads to them).
    load_holders()
    with db.sessions.begin() as session:
        erase_customer(session, db, customer_id=lyon, principal=DPO, reason="test")
    assert seen("anon-1", record=False)[0] == "default"


def test_offers_rank_by_value_and_respect_stock_and_fatigue(db: Store) -> None:
    customer = visitor(db, 1)
    with db.sessions.begin() as session:
        session.add_all(
            [
                Product(sku="BOOT-1", name="Trail boots", category="shoes"),
                Product(sku="TENT-2", name="Tent", category="camping"),
            ]
        )
        session.flush()
        put_scores(session, "purchase_propensity", [Score(customer, value=0.8)], model_version="t")
        put_scores(session, "churn_probability", [Score(customer, value=0.9)], model_version="t")
        for spec in (
            {
                "key": "boots",
                "kind": "product",
                "title": "Trail boots",
                "target": "BOOT-1",
                "margin": 0.4,
            },
            {"key": "winback", "kind": "discount", "title": "10% off", "margin": 0.2},
            {"key": "guide", "kind": "content", "title": "Camping guide", "margin": 0.1},
            {
                "key": "vip-only",
                "kind": "discount",
                "title": "VIP night",
                "margin": 0.9,
                "eligible": {"kind": "rfm_segment", "label": "champions"},
            },
        ):
            offers.save_offer(session, offers.read_offer(spec), create=True, by=MARKETER)
    with db.sessions() as session:
        ranked = offers.next_best_offers(session, customer, k=10)
    # No recommender is trained: the boots are "not recommended" (0.05); the discount's
    # relevance is the churn probability (0.9); content is 0.3; the VIP offer is not eligible.
    assert [o.key for o in ranked] == ["winback", "guide", "boots"]
    assert ranked[0].value == pytest.approx(0.8 * 0.9 * 0.2)
    assert ranked[0].factors == {"propensity": 0.8, "relevance": 0.9, "margin": 0.2, "fatigue": 1.0}
    # Shown twice this week: its fatigue divides its value by three.
    save(db, {**HERO, "key": "banner", "variants": [HERO["variants"][2]]})
    for _ in range(2):
        with db.sessions.begin() as session:
            d = slots.decide(session, db, key="banner", anonymous_id="anon-1", record=True)
            assert d.content["headline"] == "Just for you: 10% off"
    with db.sessions() as session:
        again = {o.key: o for o in offers.next_best_offers(session, customer, k=10)}
    assert again["winback"].factors["fatigue"] == pytest.approx(1 / 3, abs=1e-4)
    # Out of stock: never offered.
    with db.sessions.begin() as session:
        boots = session.scalar(select(Product.id).where(Product.sku == "BOOT-1"))
        assert boots is not None
        set_product_flags(session, boots, in_stock=False)
    with db.sessions() as session:
        assert "boots" not in {o.key for o in offers.next_best_offers(session, customer, k=10)}
    # No consent to personalisation: no offer at all.
    decide(db, customer, "withdrawn", purpose="personalisation")
    with db.sessions() as session:
        assert offers.next_best_offers(session, customer, k=10) == []


def test_bad_slots_and_offers_are_refused_with_the_field_named(db: Store) -> None:
    with pytest.raises(InvalidInput, match=r"variants\.0\.when\.score"):
        slots.read_spec(
            {
                **HERO,
                "variants": [
                    {
                        **HERO["variants"][1],
                        "when": {"kind": "score", "score": "Bad Kind", "label": "x"},
                    }
                ],
            }
        )
    with pytest.raises(InvalidInput, match="key"):
        slots.read_spec({**HERO, "key": "Not a key!"})
    with pytest.raises(InvalidInput, match="names its SKU"):
        offers.read_offer({"key": "x", "kind": "product", "title": "X", "margin": 0.5})
    with pytest.raises(InvalidInput, match="margin"):
        offers.read_offer({"key": "x", "kind": "content", "title": "X", "margin": 3})
    with db.sessions.begin() as session, pytest.raises(InvalidInput, match="no product has SKU"):
        offers.save_offer(
            session,
            offers.read_offer(
                {"key": "x", "kind": "product", "title": "X", "target": "NOPE", "margin": 0.5}
            ),
            create=True,
            by=MARKETER,
        )
    with db.sessions() as session, pytest.raises(NotFound):
        slots.decide(session, db, key="missing")


def test_journey_emails_carry_the_offers_block_only_with_consent(
    db: Store, db_settings: Settings
) -> None:
    offered = visitor(db, 1)
    unconsented = visitor(db, 2, consent=False)
    for customer in (offered, unconsented):
        decide(db, customer, "granted")  # marketing e-mail, for the journey to send at all
    with db.sessions.begin() as session:
        spec = offers.read_offer(
            {"key": "winback", "kind": "discount", "title": "10% off", "margin": 0.2}
        )
        offers.save_offer(session, spec, create=True, by=MARKETER)
    block = "{% for o in offers %}Offer: {{ o.title }}.{% endfor %}"
    template(db, "offer-mail", text=f"Hello. {block}", html="")
    journey(
        db,
        "Offers",
        {
            "trigger": {"kind": "event", "event": "Signed Up"},
            "steps": [{"id": "offer", "type": "send_email", "template": "offer-mail"}],
        },
    )
    for n in (1, 2):
        track(db, f"user-{n}", "Signed Up")
    with smtp_server() as mailbox:
        settings = with_mail(db_settings, mailbox.host, mailbox.port)
        consumers.drain(db, JOURNEY_CONSUMER)
        advance_due(db, settings, now=utcnow())
        delivery.drain(db, settings.smtp)
    texts = {m["To"]: text_of(m) for m in mailbox.messages}
    assert "Offer: 10% off." in texts["person.1@example.com"]
    assert "Offer:" not in texts["person.2@example.com"]  # no consent to personalisation
