"""Segments over the API: CRUD, preview and explain of a rule, members (paged, pseudonymised),
history, refresh, CSV export for a purpose, and the segments of one customer; computed traits
(``/api/v1/segments/traits``: list, define, delete) and one customer's values
(``GET /api/v1/customers/{id}/traits``).

Reading segments needs ``customers:read``; building, refreshing and exporting them
``segments:manage``. Counts under the minimum group size (``segments.min_group_size``) are
shown as ``< N`` to roles without ``pii:reveal``, and such a segment's members are not listed
for them. A rule's validation errors are 422 answers naming the faulty node's path.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, PermissionDenied
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import get_app_settings, get_store
from clientvault.security.principal import Principal
from clientvault.segments import rules as r
from clientvault.segments.export import export_segment
from clientvault.segments.membership import refresh_segment
from clientvault.segments.models import ComputedTrait, Segment
from clientvault.segments.service import (
    context,
    customer_segments,
    delete_segment,
    estimate,
    explain,
    get_segment,
    list_segments,
    preview,
    read_definition,
    save_segment,
    shown_count,
    size_history,
)
from clientvault.segments.traits import (
    computed_traits_of,
    define_trait,
    delete_trait,
    list_traits,
    read_trait,
)
from clientvault.segments.views import count_members, list_members, membership_changes
from clientvault.settings import Settings

router = APIRouter(prefix="/api/v1/segments", tags=["segments"])
customer_router = APIRouter(prefix="/api/v1/customers", tags=["segments"])
ReadSegments = Annotated[Caller, Depends(Authorize("customers:read"))]
ManageSegments = Annotated[Caller, Depends(Authorize("segments:manage"))]
SlugPath = Annotated[str, Path(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9\-]{0,62}$")]
PURPOSE_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"


class SegmentRead(BaseModel):
    """A segment as listed: its size as the caller may see it."""

    id: uuid.UUID
    slug: str
    name: str
    description: str
    kind: str
    rules: dict[str, Any]
    size: str
    evaluated_at: datetime | None
    sizes: list[tuple[str, str]] = Field(description="size per day, oldest first")


class StepRead(BaseModel):
    """How one top-level condition narrows the set."""

    label: str
    alone: str
    cumulative: str


class PreviewRead(BaseModel):
    """A rule's size and each top-level condition's narrowing: exact, or (asked with
    ``estimate``) estimated from a sample of ``sample`` live profiles, the size's 95 %
    interval running from ``low`` to ``high``."""

    size: str
    total: str
    steps: list[StepRead]
    estimated: bool = False
    sample: int | None = None
    low: str | None = None
    high: str | None = None


class ExplanationRead(BaseModel):
    """Whether a node holds for the customer, with its children."""

    label: str
    holds: bool
    children: list[ExplanationRead]


class MemberRead(BaseModel):
    """A member, pseudonymised: the customer id and coarse attributes."""

    customer_id: uuid.UUID
    country: str | None
    city: str | None
    language: str | None
    entered_at: datetime


class MembersPage(BaseModel):
    """One page of members."""

    total: str
    offset: int
    limit: int
    members: list[MemberRead]


class HistoryRead(BaseModel):
    """Size per day and the latest entries and exits."""

    sizes: list[tuple[str, str]]
    changes: list[dict[str, Any]]


class CustomerSegmentRead(BaseModel):
    """A segment a customer is in."""

    slug: str
    name: str
    entered_at: datetime


async def _document(request: Request) -> dict[str, Any]:
    """The JSON body, read here rather than by FastAPI so that a document nested too deep for
    the JSON parser is a 422 naming the limit, like one just over ``rules.MAX_DEPTH``."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidInput(
            f"a segment's document is at most {MAX_BODY} bytes", code="rule_too_large"
        )
    try:
        document = json.loads(body)
    except RecursionError as exc:
        raise InvalidInput(
            f"rules: groups may nest at most {r.MAX_DEPTH} levels deep", code="rule_too_deep"
        ) from exc
    except ValueError as exc:
        raise InvalidInput("the body is not a JSON document", code="invalid_json") from exc
    if not isinstance(document, dict):
        raise InvalidInput("the body is a JSON object")
    return document


#: The largest document accepted (a rule at its size limits is far smaller).
MAX_BODY = 1_000_000
Document = Annotated[dict[str, Any], Depends(_document)]


def _shown(count: int, principal: Principal, settings: Settings) -> str:
    return shown_count(count, principal=principal, min_group_size=settings.segments.min_group_size)


def _read(
    session: Session, segment: Segment, principal: Principal, settings: Settings
) -> SegmentRead:
    return SegmentRead(
        id=segment.id,
        slug=segment.slug,
        name=segment.name,
        description=segment.description,
        kind=segment.kind,
        rules=segment.rules,
        size=_shown(segment.size, principal, settings),
        evaluated_at=segment.evaluated_at,
        sizes=[(day, _shown(n, principal, settings)) for day, n in size_history(session, segment)],
    )


@router.get("/schema")
def rules_schema(caller: ReadSegments) -> dict[str, Any]:
    """The JSON Schema of a segment rule."""
    return r.rules_schema()


class TraitRead(BaseModel):
    """A computed trait's definition."""

    name: str
    description: str
    event: str
    where: list[dict[str, Any]]
    aggregate: str
    property: str | None
    window_days: int | None
    computed_at: datetime | None


class CustomerTraitRead(BaseModel):
    """A customer's value of a computed trait, and when it last changed."""

    name: str
    value: Any
    updated_at: datetime | None


def _trait_read(trait: ComputedTrait) -> TraitRead:
    return TraitRead.model_validate(trait, from_attributes=True)


# Declared before "/{slug}": "traits" is not a segment.
@router.get("/traits", response_model=list[TraitRead])
def list_computed_traits(request: Request, caller: ReadSegments) -> list[TraitRead]:
    """Every computed trait's definition."""
    with get_store(request).read_sessions() as session:
        return [_trait_read(t) for t in list_traits(session)]


@router.post("/traits", response_model=TraitRead, status_code=201)
def define_computed_trait(request: Request, caller: ManageSegments, body: Document) -> TraitRead:
    """Define a computed trait (computed for every customer at once; then kept live)."""
    definition = read_trait(body)
    with get_store(request).sessions.begin() as session:
        return _trait_read(define_trait(session, definition, principal=caller.principal))


@router.delete("/traits/{name}", status_code=204)
def delete_computed_trait(
    request: Request,
    caller: ManageSegments,
    name: Annotated[str, Path(pattern=r.NAME_PATTERN)],
) -> Response:
    """Delete a computed trait and its values (409 while a segment's rule uses it)."""
    with get_store(request).sessions.begin() as session:
        delete_trait(session, name)
    return Response(status_code=204)


@router.get("", response_model=list[SegmentRead])
def list_all(request: Request, caller: ReadSegments) -> list[SegmentRead]:
    """Every segment with its size and size history."""
    settings = get_app_settings(request)
    with get_store(request).read_sessions() as session:
        return [_read(session, s, caller.principal, settings) for s in list_segments(session)]


def _save(request: Request, caller: Caller, body: dict[str, Any], *, replace: bool) -> SegmentRead:
    definition = read_definition(body)
    settings = get_app_settings(request)
    with get_store(request).sessions.begin() as session:
        segment = save_segment(
            session, definition, principal=caller.principal, zone=settings.timezone, replace=replace
        )
        return _read(session, segment, caller.principal, settings)


@router.post("", response_model=SegmentRead, status_code=201)
def create(request: Request, caller: ManageSegments, body: Document) -> SegmentRead:
    """Create a segment (evaluated at once; a static one keeps this snapshot)."""
    return _save(request, caller, body, replace=False)


@router.put("/{slug}", response_model=SegmentRead)
def replace(
    slug: SlugPath,
    request: Request,
    caller: ManageSegments,
    body: Document,
) -> SegmentRead:
    """Change a segment (its slug stays), and re-evaluate it."""
    return _save(request, caller, {**body, "slug": slug}, replace=True)


@router.get("/{slug}", response_model=SegmentRead)
def read(slug: SlugPath, request: Request, caller: ReadSegments) -> SegmentRead:
    """One segment."""
    with get_store(request).read_sessions() as session:
        return _read(
            session, get_segment(session, slug), caller.principal, get_app_settings(request)
        )


@router.delete("/{slug}", status_code=204)
def remove(slug: SlugPath, request: Request, caller: ManageSegments) -> Response:
    """Delete a segment (refused while another segment's rule names it)."""
    with get_store(request).sessions.begin() as session:
        delete_segment(session, slug)
    return Response(status_code=204)


def _rules_of(body: dict[str, Any], *, also: str = "customer_id") -> r.Node:
    if set(body) - {"rules", also}:
        raise InvalidInput(f"the body holds 'rules' (and '{also}') only")
    return r.parse_rules(body.get("rules"))


@router.post("/preview", response_model=PreviewRead)
def preview_rules(body: Document, request: Request, caller: ManageSegments) -> PreviewRead:
    """A rule's size and how much each top-level condition narrows it (the builder's count).
    With ``"estimate": true``, figures estimated from a sample of the profiles when there are
    many (a fraction of a second at a million, where the exact ones take seconds)."""
    settings = get_app_settings(request)
    node = _rules_of(body, also="estimate")
    wanted = body.get("estimate", False)
    if not isinstance(wanted, bool):
        raise InvalidInput("'estimate' is true or false")
    with get_store(request).read_sessions() as session:
        ctx = context(session, zone=settings.timezone)
        if wanted:
            found = estimate(session, node, ctx, sample=settings.segments.estimate_sample)
        else:
            found = preview(session, node, ctx)

    def shown(count: int) -> str:
        return _shown(count, caller.principal, settings)

    low, high = found.interval or (None, None)
    return PreviewRead(
        size=shown(found.size),
        total=shown(found.total),
        steps=[
            StepRead(label=s.label, alone=shown(s.alone), cumulative=shown(s.cumulative))
            for s in found.steps
        ],
        estimated=found.sample is not None,
        sample=found.sample,
        low=None if low is None else shown(low),
        high=None if high is None else shown(high),
    )


def _explained(node: r.Node, request: Request, customer_id: uuid.UUID) -> ExplanationRead:
    settings = get_app_settings(request)
    with get_store(request).read_sessions() as session:
        found = explain(session, node, context(session, zone=settings.timezone), customer_id)
    return ExplanationRead.model_validate(dataclasses.asdict(found))


@router.post("/explain", response_model=ExplanationRead)
def explain_rules(body: Document, request: Request, caller: ManageSegments) -> ExplanationRead:
    """Why a customer is in or out of a rule, condition by condition (body: ``rules`` and
    ``customer_id``)."""
    try:
        customer_id = uuid.UUID(str(body.get("customer_id")))
    except ValueError as exc:
        raise InvalidInput("customer_id: a customer id (UUID)") from exc
    return _explained(_rules_of(body), request, customer_id)


@router.get("/{slug}/explain/{customer_id}", response_model=ExplanationRead)
def explain_segment(
    slug: SlugPath, customer_id: uuid.UUID, request: Request, caller: ReadSegments
) -> ExplanationRead:
    """Why a customer is in or out of a stored segment, condition by condition."""
    with get_store(request).read_sessions() as session:
        node = r.parse_rules(get_segment(session, slug).rules)
    return _explained(node, request, customer_id)


@router.get("/{slug}/members", response_model=MembersPage)
def members(
    slug: SlugPath,
    request: Request,
    caller: ReadSegments,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> MembersPage:
    """A page of the segment's live members: ids and coarse attributes, no identifiers."""
    settings = get_app_settings(request)
    with get_store(request).read_sessions() as session:
        segment = get_segment(session, slug)
        total = count_members(session, segment)
        if 0 < total < settings.segments.min_group_size and not caller.principal.can("pii:reveal"):
            raise PermissionDenied(
                "this segment is smaller than the minimum group size: its members are listed "
                "only to roles with pii:reveal",
                code="group_too_small",
            )
        rows = list_members(session, segment, offset=offset, limit=limit)
    return MembersPage(
        total=_shown(total, caller.principal, settings),
        offset=offset,
        limit=limit,
        members=[
            MemberRead(customer_id=c, country=country, city=city, language=lang, entered_at=at)
            for c, country, city, lang, at in rows
        ],
    )


@router.get("/{slug}/history", response_model=HistoryRead)
def history(
    slug: SlugPath,
    request: Request,
    caller: ReadSegments,
    days: Annotated[int, Query(ge=1, le=3660)] = 90,
) -> HistoryRead:
    """The segment's size per day, and how many entered and left at each evaluation."""
    settings = get_app_settings(request)
    with get_store(request).read_sessions() as session:
        segment = get_segment(session, slug)
        changes = membership_changes(session, segment)
        sizes = size_history(session, segment, days=days)
    return HistoryRead(
        sizes=[(day, _shown(n, caller.principal, settings)) for day, n in sizes],
        changes=[
            {
                "at": at.isoformat(),
                "change": change,
                "customers": _shown(n, caller.principal, settings),
            }
            for at, change, n in changes
        ],
    )


@router.post("/{slug}/refresh", response_model=SegmentRead)
def refresh(slug: SlugPath, request: Request, caller: ManageSegments) -> SegmentRead:
    """Re-evaluate a segment now (a static one takes a new snapshot)."""
    settings = get_app_settings(request)
    with get_store(request).sessions.begin() as session:
        segment = get_segment(session, slug)
        refresh_segment(session, segment)
        return _read(session, segment, caller.principal, settings)


@router.get("/{slug}/export.csv", response_class=PlainTextResponse)
def export(
    slug: SlugPath,
    request: Request,
    caller: ManageSegments,
    purpose: Annotated[str, Query(pattern=PURPOSE_PATTERN)],
    identifiers: bool = False,
    reason: Annotated[str, Query(min_length=3, max_length=200)] = "segment export",
) -> PlainTextResponse:
    """The segment's audience for a purpose as CSV, through the privacy layer, audited."""
    text = export_segment(
        get_store(request),
        get_app_settings(request),
        slug,
        purpose=purpose,
        principal=caller.principal,
        identifiers=identifiers,
        reason=reason,
    )
    return PlainTextResponse(
        text,
        media_type="text/csv",
        headers={"content-disposition": f'attachment; filename="segment-{slug}-{purpose}.csv"'},
    )


@customer_router.get("/{customer_id}/segments", response_model=list[CustomerSegmentRead])
def segments_of_customer(
    customer_id: uuid.UUID, request: Request, caller: ReadSegments
) -> list[CustomerSegmentRead]:
    """The segments a customer is in now."""
    with get_store(request).read_sessions() as session:
        return [
            CustomerSegmentRead(slug=s.slug, name=s.name, entered_at=at)
            for s, at in customer_segments(session, customer_id)
        ]


@customer_router.get("/{customer_id}/traits", response_model=list[CustomerTraitRead])
def traits_of_customer(
    customer_id: uuid.UUID, request: Request, caller: ReadSegments
) -> list[CustomerTraitRead]:
    """A customer's computed traits (a count or sum of nothing shows as 0)."""
    with get_store(request).read_sessions() as session:
        return [
            CustomerTraitRead(name=name, value=value, updated_at=at)
            for name, value, at in computed_traits_of(session, customer_id)
        ]
