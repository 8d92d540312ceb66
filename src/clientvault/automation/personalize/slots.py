"""Content slots: a place on the website whose content is chosen per visitor.

A slot has variants, each with a condition (segment membership, a customer score, having a
recommendation, having a next best offer) and text content; the snippet asks
``POST /v1/personalize`` for a slot with the visitor's anonymous id and shows what comes back.
The decision reads only data the visitor's consents allow: an anonymous visitor, a visitor
whose profile is not in the ``personalisation`` audience (no consent, objection, restriction,
erasure) or one who meets no condition gets the slot's default. A ``Content Shown`` event is
recorded when the page may track the visitor, so analytics can compare variants.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.automation.personalize import offers
from clientvault.automation.personalize.models import ContentSlot
from clientvault.customers.scores import CustomerScore, scores_of
from clientvault.errors import Conflict, NotFound, Unavailable, validated
from clientvault.identity.profiles import find_by_identifier
from clientvault.ingest.event_log import append_event
from clientvault.predict.personal import recommendations_for
from clientvault.privacy.audiences import allows
from clientvault.security import audit
from clientvault.security.principal import Principal
from clientvault.segments.service import customer_segments
from clientvault.store.context import Store

KEY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
#: ``{product}`` in a recommendation variant's text becomes the recommended product's name;
#: ``{offer}`` in an offer variant's, the offer's title. Plain replacement, not a template
#: engine: content is data a marketer typed, never code.
_PLACEHOLDER = re.compile(r"\{(product|offer)\}")


class Content(BaseModel):
    """What a slot shows: text fields the snippet writes with ``textContent``."""

    model_config = ConfigDict(extra="forbid")
    headline: str = Field(default="", max_length=200)
    body: str = Field(default="", max_length=2000)
    link: HttpUrl | None = None
    image: HttpUrl | None = None


class SegmentCondition(BaseModel):
    """The visitor is a member of this segment now."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["segment"]
    segment: str = Field(min_length=1, max_length=100)


class ScoreCondition(BaseModel):
    """The visitor's latest score of this kind has this label, or lies in [min, max]."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["score"]
    score: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str | None = Field(default=None, max_length=64)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _something_to_check(self) -> ScoreCondition:
        if self.label is None and self.min is None and self.max is None:
            raise ValueError("a score condition needs a label, a min or a max")
        return self


class RecommendationCondition(BaseModel):
    """The recommender has a product for the visitor (``{product}`` names it)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["recommendation"]


class OfferCondition(BaseModel):
    """The next-best-offer ranking has an offer for the visitor (``{offer}`` names it)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["offer"]


Condition = Annotated[
    SegmentCondition | ScoreCondition | RecommendationCondition | OfferCondition,
    Field(discriminator="kind"),
]


class VariantSpec(BaseModel):
    """One variant: shown to visitors meeting ``when`` (the first variant that matches wins)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9 _-]{1,40}$")
    when: Condition
    content: Content


class SlotSpec(BaseModel):
    """A content slot as written by the API, the CLI and the console."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=KEY_PATTERN)
    description: str = Field(default="", max_length=300)
    default: Content
    variants: list[VariantSpec] = Field(default_factory=list, max_length=20)
    active: bool = True

    @model_validator(mode="after")
    def _names_differ(self) -> SlotSpec:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names) or "default" in names:
            raise ValueError("variant names must differ from each other and from 'default'")
        return self


def read_spec(document: object) -> SlotSpec:
    """A slot document checked, or ``InvalidInput`` naming the path of the faulty field."""
    return validated(SlotSpec, document, what="slot")


def save_slot(session: Session, spec: SlotSpec, *, create: bool, by: Principal) -> ContentSlot:
    """Create a slot (``create``) or replace an existing one's content and variants; audited."""
    slot = session.scalar(select(ContentSlot).where(ContentSlot.key == spec.key))
    if create and slot is not None:
        raise Conflict(f"a slot is already called {spec.key!r}")
    if not create and slot is None:
        raise NotFound(f"no content slot is called {spec.key!r}")
    if slot is None:
        slot = ContentSlot(key=spec.key)
        session.add(slot)
    slot.description = spec.description
    slot.default = spec.default.model_dump(mode="json")
    slot.variants = [v.model_dump(mode="json") for v in spec.variants]
    slot.active = spec.active
    session.flush()
    _audit(session, by, "created" if create else "updated", spec.key)
    return slot


def _audit(session: Session, by: Principal, change: str, key: str) -> None:
    audit.record(
        session,
        principal=by,
        action=f"content_slot.{change}",
        target_type="content_slot",
        target_ids=[key],
    )


def get_slot(session: Session, key: str) -> ContentSlot:
    """The slot called ``key`` or ``NotFound``."""
    slot = session.scalar(select(ContentSlot).where(ContentSlot.key == key))
    if slot is None:
        raise NotFound(f"no content slot is called {key!r}")
    return slot


def list_slots(session: Session) -> list[ContentSlot]:
    """Every slot, by key."""
    return list(session.scalars(select(ContentSlot).order_by(ContentSlot.key)))


def delete_slot(session: Session, key: str, *, by: Principal) -> None:
    """Remove a slot (pages asking for it get a 404 and keep their own markup); audited."""
    session.delete(get_slot(session, key))
    session.flush()
    _audit(session, by, "deleted", key)


def spec_of(slot: ContentSlot) -> SlotSpec:
    """A stored slot as its document (for editing and the API)."""
    return SlotSpec.model_validate(
        {
            "key": slot.key,
            "description": slot.description,
            "default": slot.default,
            "variants": slot.variants,
            "active": slot.active,
        }
    )


@dataclass(frozen=True)
class Decision:
    """What a visitor is shown in a slot, and why (the reason never names personal data)."""

    slot: str
    variant: str
    content: dict[str, Any]
    reason: str
    customer_id: uuid.UUID | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def may_personalise(session: Session, customer_id: uuid.UUID) -> bool:
    """Whether the customer is in the ``personalisation`` audience now (consent given, no
    objection or restriction, not erased, not merged away)."""
    return allows(session, customer_id, purpose=offers.PURPOSE)


def _filled(content: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    return {
        name: _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
        if isinstance(text, str) and name in ("headline", "body")
        else text
        for name, text in content.items()
    }


@dataclass
class _Visitor:
    """One known visitor during one decision: their segments and scores are read once,
    however many variants ask about them."""

    session: Session
    customer_id: uuid.UUID

    @cached_property
    def segments(self) -> set[str]:
        return {s.slug for s, _ in customer_segments(self.session, self.customer_id)}

    @cached_property
    def scores(self) -> dict[str, CustomerScore]:
        return {s.kind: s for s in scores_of(self.session, self.customer_id)}

    def meets(self, when: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Whether the visitor meets a variant's condition, with what the content may name."""
        kind = when["kind"]
        if kind == "segment":
            return when["segment"] in self.segments, {}
        if kind == "score":
            score = self.scores.get(when["score"])
            if score is None:
                return False, {}
            if when.get("label") is not None and score.label != when["label"]:
                return False, {}
            low, high = when.get("min"), when.get("max")
            value = score.value
            if (low is not None or high is not None) and value is None:
                return False, {}
            inside = (low is None or value >= low) and (high is None or value <= high)
            return inside, {}
        if kind == "recommendation":
            try:
                found = recommendations_for(self.session, self.customer_id, k=1)
            except Unavailable:  # no recommender trained yet
                return False, {}
            if not found.items:
                return False, {}
            top = found.items[0]
            product = {"sku": top.sku, "name": top.name, "category": top.category}
            return True, {"product": product}
        ranked = offers.next_best_offers(self.session, self.customer_id, k=1)
        if not ranked:
            return False, {}
        best = ranked[0]
        return True, {"offer": {"key": best.key, "title": best.title, "link": best.link}}


def decide(
    session: Session,
    store: Store,
    *,
    key: str,
    anonymous_id: str | None = None,
    customer_id: uuid.UUID | None = None,
    record: bool = False,
    page: str | None = None,
) -> Decision:
    """The content of slot ``key`` for a visitor known by the snippet's ``anonymous_id`` (or,
    for a marketer's preview, by ``customer_id``), from consented data only; records a
    ``Content Shown`` event when ``record`` (the page may track this visitor).

    Only the anonymous id is taken from a web page, never a user id: anonymous ids are random
    and unguessable, whereas a page that could name any user id could probe what segment
    someone else is in."""
    slot = get_slot(session, key)
    if not slot.active:
        raise NotFound(f"no content slot is called {key!r}")
    if customer_id is None and anonymous_id:
        customer_id = find_by_identifier(session, store, kind="anonymous_id", value=anonymous_id)
    decision = Decision(slot.key, "default", slot.default, "anonymous visitor")
    if customer_id is not None and not may_personalise(session, customer_id):
        decision = Decision(slot.key, "default", slot.default, "no consent to personalisation")
    elif customer_id is not None:
        decision = Decision(
            slot.key, "default", slot.default, "no variant's condition met", customer_id
        )
        visitor = _Visitor(session, customer_id)
        for variant in slot.variants:
            matched, extra = visitor.meets(variant["when"])
            if matched:
                names = {
                    name: str(value.get("name") or value.get("title"))
                    for name, value in extra.items()
                }
                decision = Decision(
                    slot.key,
                    variant["name"],
                    _filled(variant["content"], names),
                    f"condition met: {variant['when']['kind']}",
                    customer_id,
                    extra,
                )
                break
    if record and (customer_id is not None or anonymous_id):
        _record_shown(session, store, decision, anonymous_id=anonymous_id, page=page)
    return decision


def _record_shown(
    session: Session,
    store: Store,
    decision: Decision,
    *,
    anonymous_id: str | None,
    page: str | None,
) -> None:
    properties: dict[str, Any] = {"slot": decision.slot, "variant": decision.variant}
    if "offer" in decision.extra:
        properties["offer"] = decision.extra["offer"]["key"]
    if "product" in decision.extra:
        properties["product_sku"] = decision.extra["product"]["sku"]
    append_event(
        session,
        name=offers.SHOWN_EVENT,
        message_id=f"content-shown:{uuid.uuid4()}",
        source="personalize",
        properties=properties,
        customer_id=decision.customer_id,
        anonymous_index=store.index("anonymous_id", anonymous_id) if anonymous_id else None,
        context={"page": {"url": page}} if page else None,
    )
