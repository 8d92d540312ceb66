"""Segments in the console (``/console/segments``): the list with sizes and a size-over-time
sparkline, the builder (conditions added by clicking, pickers drawn from the data, the live
count and explanation fetched from the API), and a segment's page with its members, its RFM
and persona mix, refresh and export for a purpose.

The builder works without script too: the rule is a JSON text area the script keeps in step
with the clicked conditions. Counts follow the same k-anonymity as the API.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clientvault.customers.scores import CustomerScore, score_kinds
from clientvault.errors import ClientVaultError, InvalidInput
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Product
from clientvault.ingest.models import Event
from clientvault.privacy.purposes import list_purposes
from clientvault.segments import rules as r
from clientvault.segments.compiler import live_customers
from clientvault.segments.export import export_segment
from clientvault.segments.membership import refresh_segment
from clientvault.segments.models import Segment, SegmentMember
from clientvault.segments.service import (
    get_segment,
    list_segments,
    read_definition,
    save_segment,
    shown_count,
    size_history,
    slugify,
)
from clientvault.segments.traits import event_properties, list_traits
from clientvault.settings import Settings
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/segments", include_in_schema=False)
ReadSegments = Annotated[Caller, Depends(Authorize("customers:read"))]
ManageSegments = Annotated[Caller, Depends(Authorize("segments:manage"))]
SlugPath = Annotated[str, Path(pattern=r.SLUG_PATTERN)]
_PICKS = 100


def _csrf(caller: Caller) -> str:
    return caller.staff_session.csrf_token if caller.staff_session else ""


def sparkline(sizes: list[tuple[str, int]], *, width: int = 120, height: int = 24) -> str:
    """The points of an SVG polyline of a size history (drawn by the template: no script)."""
    if not sizes:
        return ""
    values = [n for _, n in sizes]
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{height - (n / top) * (height - 2) - 1:.1f}" for i, n in enumerate(values)
    )


@router.get("", response_class=HTMLResponse, name="console_segments")
def segments_page(
    request: Request, caller: ReadSegments, store: StoreDep, settings: SettingsDep
) -> Response:
    """Every segment with its kind, size and size over time."""
    rows = []
    with store.read_sessions() as session:
        for segment in list_segments(session):
            sizes = size_history(session, segment)
            rows.append(
                {
                    "segment": segment,
                    "size": _shown(segment.size, caller, settings),
                    "sparkline": sparkline(sizes) if len(sizes) > 1 else "",
                    "days": len(sizes),
                }
            )
    return render(
        request,
        "segments/list.html",
        {
            "title": "Segments",
            "rows": rows,
            "can_build": caller.principal.can("segments:manage"),
        },
    )


def _shown(count: int, caller: Caller, settings: Settings) -> str:
    return shown_count(
        count, principal=caller.principal, min_group_size=settings.segments.min_group_size
    )


def pickers(session: Session) -> dict[str, Any]:
    """What the builder's pickers offer, drawn from the data: event names, event property
    names, product categories, countries, cities, interests, purposes and scores."""
    events = session.scalars(
        select(Event.name)
        .where(Event.name.is_not(None), Event.type == "track")
        .group_by(Event.name)
        .order_by(func.count().desc())
        .limit(_PICKS)
    ).all()
    categories = session.scalars(
        select(Product.category)
        .distinct()
        .where(Product.category.is_not(None))
        .order_by(Product.category)
        .limit(_PICKS)
    ).all()
    countries = session.scalars(
        select(Customer.country)
        .where(Customer.country.is_not(None), live_customers())
        .group_by(Customer.country)
        .order_by(func.count().desc())
        .limit(_PICKS)
    ).all()
    sample = session.scalars(
        select(Customer.traits).where(live_customers()).order_by(Customer.id).limit(500)
    ).all()
    interests: set[str] = set()
    for traits in sample:
        found = (traits or {}).get("interests")
        if isinstance(found, list):
            interests.update(str(i) for i in found if isinstance(i, str))
    return {
        "events": list(events),
        "properties": event_properties(session),
        "traits": [t.name for t in list_traits(session)],
        "categories": list(categories),
        "countries": list(countries),
        "interests": sorted(interests)[:_PICKS],
        "purposes": [p.code for p in list_purposes(session)],
        "scores": {k.kind: list(k.labels) for k in score_kinds(session)},
        "segments": [s.slug for s in list_segments(session)],
    }


def _builder(
    request: Request,
    caller: Caller,
    store: StoreDep,
    *,
    values: dict[str, str],
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    with store.read_sessions() as session:
        picks = pickers(session)
    return render(
        request,
        "segments/builder.html",
        {
            "title": "New segment" if not values.get("editing") else f"Edit {values['slug']}",
            "values": values,
            # Inside a <script type="application/json">: no "<" may end it early.
            "pickers": json.dumps(picks).replace("<", "\\u003c"),
            "error": error,
            "csrf_token": _csrf(caller),
        },
        status_code=status_code,
    )


@router.get("/new", response_class=HTMLResponse, name="console_segment_new")
def new_page(request: Request, caller: ManageSegments, store: StoreDep) -> Response:
    """The segment builder, empty."""
    values = {"name": "", "slug": "", "kind": "dynamic", "rules": '{"all": []}', "editing": ""}
    return _builder(request, caller, store, values=values)


@router.post("/new", response_class=HTMLResponse, name="console_segment_create")
def create(
    request: Request,
    caller: ManageSegments,
    store: StoreDep,
    settings: SettingsDep,
    name: Annotated[str, Form(max_length=120)],
    rules: Annotated[str, Form(max_length=200_000)],
    slug: Annotated[str, Form(max_length=63)] = "",
    kind: Annotated[str, Form(max_length=8)] = "dynamic",
    editing: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """Save the segment built (or shown again with the error naming the faulty node)."""
    values = {
        "name": name,
        "slug": slug or slugify(name),
        "kind": kind,
        "rules": rules,
        "editing": "yes" if editing else "",
    }
    try:
        try:
            document = json.loads(rules)
        except RecursionError as exc:
            raise InvalidInput("rules: nested too deep", code="rule_too_deep") from exc
        except ValueError as exc:
            raise InvalidInput("rules: not a JSON document") from exc
        definition = read_definition(
            {"name": name, "slug": values["slug"], "kind": kind, "rules": document}
        )
        with store.sessions.begin() as session:
            save_segment(
                session,
                definition,
                principal=caller.principal,
                zone=settings.timezone,
                replace=bool(editing),
            )
    except ClientVaultError as exc:
        return _builder(request, caller, store, values=values, error=exc.message, status_code=422)
    return RedirectResponse(f"{CONSOLE_PREFIX}/segments/{values['slug']}", status_code=303)


@router.get("/{slug}/edit", response_class=HTMLResponse, name="console_segment_edit")
def edit_page(
    slug: SlugPath, request: Request, caller: ManageSegments, store: StoreDep
) -> Response:
    """The builder on a stored segment."""
    with store.read_sessions() as session:
        segment = get_segment(session, slug)
        values = {
            "name": segment.name,
            "slug": segment.slug,
            "kind": segment.kind,
            "rules": json.dumps(segment.rules, indent=2),
            "editing": "yes",
        }
    return _builder(request, caller, store, values=values)


def _mix(session: Session, segment: Segment, kind: str) -> list[tuple[str, int]]:
    rows = session.execute(
        select(CustomerScore.label, func.count())
        .join(SegmentMember, SegmentMember.customer_id == CustomerScore.customer_id)
        .where(SegmentMember.segment_id == segment.id, CustomerScore.kind == kind)
        .group_by(CustomerScore.label)
        .order_by(func.count().desc())
    ).all()
    return [(str(label), int(n)) for label, n in rows]


@router.get("/{slug}", response_class=HTMLResponse, name="console_segment")
def segment_page(
    slug: SlugPath,
    request: Request,
    caller: ReadSegments,
    store: StoreDep,
    settings: SettingsDep,
) -> Response:
    """One segment: its rule, size over time, RFM and persona mix, members, export."""
    minimum = settings.segments.min_group_size
    with store.read_sessions() as session:
        segment = get_segment(session, slug)
        sizes = size_history(session, segment)
        members = session.execute(
            select(
                Customer.id,
                Customer.country,
                Customer.city,
                Customer.language,
                SegmentMember.entered_at,
            )
            .join(SegmentMember, SegmentMember.customer_id == Customer.id)
            .where(SegmentMember.segment_id == segment.id, live_customers())
            .order_by(SegmentMember.entered_at.desc(), Customer.id)
            .limit(50)
        ).all()
        small = 0 < segment.size < minimum and not caller.principal.can("pii:reveal")
        mixes = {
            "RFM group": _mix(session, segment, "rfm_group"),
            "Persona": _mix(session, segment, "persona"),
        }
        purposes = [p.code for p in list_purposes(session)]
    return render(
        request,
        "segments/segment.html",
        {
            "title": segment.name,
            "segment": segment,
            "rules": json.dumps(segment.rules, indent=2),
            "size": _shown(segment.size, caller, settings),
            "sizes": [(day, _shown(n, caller, settings)) for day, n in sizes[-14:]],
            "sparkline": sparkline(sizes) if len(sizes) > 1 else "",
            "members": [] if small else members,
            "small": small,
            "mixes": {
                name: [(label, _shown(n, caller, settings)) for label, n in rows]
                for name, rows in mixes.items()
            },
            "purposes": purposes,
            "can_build": caller.principal.can("segments:manage"),
            "csrf_token": _csrf(caller),
        },
    )


@router.post("/{slug}/refresh", name="console_segment_refresh")
def refresh(slug: SlugPath, caller: ManageSegments, store: StoreDep) -> RedirectResponse:
    """Re-evaluate the segment now."""
    with store.sessions.begin() as session:
        refresh_segment(session, get_segment(session, slug))
    return RedirectResponse(f"{CONSOLE_PREFIX}/segments/{slug}", status_code=303)


@router.post("/{slug}/export", name="console_segment_export")
def export(
    slug: SlugPath,
    caller: ManageSegments,
    store: StoreDep,
    settings: SettingsDep,
    purpose: Annotated[str, Form(pattern=r"^[a-z][a-z0-9_]{1,63}$")],
    reason: Annotated[str, Form(min_length=3, max_length=200)] = "segment export",
) -> Response:
    """The segment's audience for a purpose as a CSV download (audited, through privacy)."""
    text = export_segment(
        store, settings, slug, purpose=purpose, principal=caller.principal, reason=reason
    )
    return PlainTextResponse(
        text,
        media_type="text/csv",
        headers={"content-disposition": f'attachment; filename="segment-{slug}-{purpose}.csv"'},
    )
