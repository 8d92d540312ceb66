"""Personalisation over the API: content slots and offers (marketers), a customer's next best
offers, and the public decision call that the snippet's ``clientvault.personalize(slot)``
makes."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from clientvault.automation.personalize import offers, slots
from clientvault.automation.personalize.models import ContentSlot, Offer
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import get_store
from clientvault.http.site_calls import check_site_call, site_preflight

router = APIRouter(prefix="/api/v1", tags=["personalisation"])
public = APIRouter(prefix="/v1/personalize", tags=["personalisation"])
Marketer = Annotated[Caller, Depends(Authorize("campaigns:manage"))]
ReadCustomers = Annotated[Caller, Depends(Authorize("customers:read"))]
Key = Annotated[str, Path(pattern=slots.KEY_PATTERN)]


class SlotRead(BaseModel):
    """A content slot with its default and variants."""

    key: str
    description: str
    default: dict[str, Any]
    variants: list[dict[str, Any]]
    active: bool


class OfferRead(BaseModel):
    """An offer of the next-best-offer catalogue."""

    model_config = ConfigDict(from_attributes=True)
    key: str
    kind: str
    title: str
    target: str | None
    margin: float
    purpose: str
    eligible: dict[str, Any] | None
    link: str | None
    active: bool


class RankedOfferRead(BaseModel):
    """An offer for one customer, with its expected value and the factors behind it."""

    model_config = ConfigDict(from_attributes=True)
    key: str
    kind: str
    title: str
    link: str | None
    value: float
    factors: dict[str, float]


class PreviewBody(BaseModel):
    """Which customer a marketer previews a slot for."""

    model_config = ConfigDict(extra="forbid")
    customer_id: uuid.UUID


class DecisionRead(BaseModel):
    """What a slot shows: text content only, never personal data."""

    slot: str
    variant: str
    content: dict[str, Any]
    product: dict[str, Any] | None = None
    offer: dict[str, Any] | None = None


class PreviewRead(DecisionRead):
    """A marketer's preview: the decision and why."""

    reason: str


class DecisionBody(BaseModel):
    """The snippet's question for one slot."""

    model_config = ConfigDict(extra="forbid")
    writeKey: str = Field(max_length=200)  # noqa: N815 - the snippet's field name
    slot: str = Field(pattern=slots.KEY_PATTERN)
    anonymousId: str | None = Field(default=None, max_length=200)  # noqa: N815
    #: Whether the page may track this visitor (consent, Do-Not-Track, GPC as the snippet
    #: checks them): only then is ``Content Shown`` recorded.
    track: bool = False
    page: str | None = Field(default=None, max_length=2000)


def _slot_read(slot: ContentSlot) -> SlotRead:
    return SlotRead(
        key=slot.key,
        description=slot.description,
        default=slot.default,
        variants=slot.variants,
        active=slot.active,
    )


def _decision(decision: slots.Decision) -> dict[str, Any]:
    return {
        "slot": decision.slot,
        "variant": decision.variant,
        "content": decision.content,
        "product": decision.extra.get("product"),
        "offer": decision.extra.get("offer"),
    }


@router.get("/content-slots", response_model=list[SlotRead])
def list_slots(request: Request, caller: Marketer) -> list[SlotRead]:
    """Every content slot."""
    with get_store(request).sessions() as session:
        return [_slot_read(slot) for slot in slots.list_slots(session)]


@router.post("/content-slots", response_model=SlotRead, status_code=201)
def create_slot(spec: slots.SlotSpec, request: Request, caller: Marketer) -> SlotRead:
    """A new slot; 422 naming the faulty field."""
    with get_store(request).sessions.begin() as session:
        return _slot_read(slots.save_slot(session, spec, create=True, by=caller.principal))


@router.get("/content-slots/{key}", response_model=SlotRead)
def get_slot(key: Key, request: Request, caller: Marketer) -> SlotRead:
    """One slot."""
    with get_store(request).sessions() as session:
        return _slot_read(slots.get_slot(session, key))


@router.put("/content-slots/{key}", response_model=SlotRead)
def update_slot(key: Key, body: slots.SlotSpec, request: Request, caller: Marketer) -> SlotRead:
    """Replace a slot's description, default, variants and state (the key in the path wins)."""
    spec = body.model_copy(update={"key": key})
    with get_store(request).sessions.begin() as session:
        return _slot_read(slots.save_slot(session, spec, create=False, by=caller.principal))


@router.delete("/content-slots/{key}", status_code=204)
def delete_slot(key: Key, request: Request, caller: Marketer) -> Response:
    """Remove a slot."""
    with get_store(request).sessions.begin() as session:
        slots.delete_slot(session, key, by=caller.principal)
    return Response(status_code=204)


@router.post("/content-slots/{key}/preview", response_model=PreviewRead)
def preview_slot(key: Key, body: PreviewBody, request: Request, caller: Marketer) -> PreviewRead:
    """What a customer would see in a slot, and why (nothing is recorded)."""
    store = get_store(request)
    with store.sessions() as session:
        decision = slots.decide(session, store, key=key, customer_id=body.customer_id)
    return PreviewRead(**_decision(decision), reason=decision.reason)


@router.get("/offers", response_model=list[OfferRead])
def list_offers(request: Request, caller: Marketer) -> list[Offer]:
    """Every offer."""
    with get_store(request).sessions() as session:
        return offers.list_offers(session)


@router.post("/offers", response_model=OfferRead, status_code=201)
def create_offer(spec: offers.OfferSpec, request: Request, caller: Marketer) -> OfferRead:
    """A new offer; 422 naming the faulty field."""
    with get_store(request).sessions.begin() as session:
        saved = offers.save_offer(session, spec, create=True, by=caller.principal)
        return OfferRead.model_validate(saved)


@router.put("/offers/{key}", response_model=OfferRead)
def update_offer(key: Key, body: offers.OfferSpec, request: Request, caller: Marketer) -> OfferRead:
    """Replace an offer (the key in the path wins)."""
    spec = body.model_copy(update={"key": key})
    with get_store(request).sessions.begin() as session:
        saved = offers.save_offer(session, spec, create=False, by=caller.principal)
        return OfferRead.model_validate(saved)


@router.delete("/offers/{key}", status_code=204)
def delete_offer(key: Key, request: Request, caller: Marketer) -> Response:
    """Remove an offer."""
    with get_store(request).sessions.begin() as session:
        offers.delete_offer(session, key, by=caller.principal)
    return Response(status_code=204)


@router.get("/customers/{customer_id}/next-best-offers", response_model=list[RankedOfferRead])
def next_best_offers(
    customer_id: uuid.UUID,
    request: Request,
    caller: ReadCustomers,
    k: Annotated[int, Query(ge=1, le=50)] = 3,
) -> list[offers.RankedOffer]:
    """The customer's best offers now, with the factors of each (empty without consent to
    personalisation)."""
    with get_store(request).sessions.begin() as session:
        return offers.offers_read(session, customer_id, k=k, by=caller.principal)


@public.options("", include_in_schema=False)
def preflight(request: Request) -> Response:
    """A browser's CORS preflight for the decision call."""
    return site_preflight(request)


@public.post("", response_model=DecisionRead)
def decide(body: DecisionBody, request: Request, response: Response) -> DecisionRead:
    """The content of a slot for the visitor with this anonymous id: personalised from
    consented data, the slot's default for anyone else."""
    check_site_call(request, response, body.writeKey)
    store = get_store(request)
    with store.sessions.begin() as session:
        decision = slots.decide(
            session,
            store,
            key=body.slot,
            anonymous_id=body.anonymousId,
            record=body.track,
            page=body.page,
        )
    response.headers["Cache-Control"] = "no-store"
    return DecisionRead(**_decision(decision))
