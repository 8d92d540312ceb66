"""Personalisation (``/console/personalize``), for marketers: the website's content slots
and the offers of the next-best-offer ranking, made with forms (no JSON), and a preview of
what one customer would see in a slot, and why."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from clientvault.automation.personalize import offers, slots
from clientvault.errors import ClientVaultError, InvalidInput
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import StoreDep
from clientvault.store.context import Store
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/personalize", include_in_schema=False)
Marketer = Annotated[Caller, Depends(Authorize("campaigns:manage"))]
BASE = f"{CONSOLE_PREFIX}/personalize"
#: Variant rows the slot form offers (a slot may have more through the API or CLI).
VARIANT_ROWS = 3
CONDITION_KINDS = ("segment", "score", "recommendation", "offer")


def _fields(raw: Any) -> dict[str, str]:
    return {key: value.strip() for key, value in raw.items() if isinstance(value, str)}


def _content(form: dict[str, str], prefix: str) -> dict[str, Any]:
    content: dict[str, Any] = {
        "headline": form.get(f"{prefix}headline", ""),
        "body": form.get(f"{prefix}body", ""),
    }
    if form.get(f"{prefix}link"):
        content["link"] = form[f"{prefix}link"]
    return content


def _condition(form: dict[str, str], n: int) -> dict[str, Any]:
    kind = form.get(f"v{n}_kind", "")
    value = form.get(f"v{n}_value", "")
    if kind == "segment":
        return {"kind": "segment", "segment": value}
    if kind == "score":
        score, _, label = value.partition("=")
        return {"kind": "score", "score": score.strip(), "label": label.strip() or None}
    return {"kind": kind}


def slot_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The slot document a console form describes: rows without a name are left out."""
    return {
        "key": form.get("key", ""),
        "description": form.get("description", ""),
        "default": _content(form, "default_"),
        "variants": [
            {
                "name": form[f"v{n}_name"],
                "when": _condition(form, n),
                "content": _content(form, f"v{n}_"),
            }
            for n in range(VARIANT_ROWS)
            if form.get(f"v{n}_name")
        ],
    }


def offer_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The offer document a console form describes."""
    try:
        margin = float(form.get("margin", "") or "nan")
    except ValueError as exc:
        raise InvalidInput("margin: a number from 0 to 1", details={"field": "margin"}) from exc
    document: dict[str, Any] = {
        "key": form.get("key", ""),
        "kind": form.get("kind", ""),
        "title": form.get("title", ""),
        "target": form.get("target") or None,
        "margin": margin,
        "link": form.get("link") or None,
    }
    if form.get("eligible"):
        kind, _, label = form["eligible"].partition("=")
        document["eligible"] = {"kind": kind.strip(), "label": label.strip()}
    return document


def _page(
    request: Request,
    caller: Caller,
    store: Store,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    preview: slots.Decision | None = None,
    status_code: int = 200,
) -> Response:
    with store.read_sessions() as session, session.begin():
        return render(
            request,
            "personalize/index.html",
            {
                "title": "Personalisation",
                "slots": slots.list_slots(session),
                "offers": offers.list_offers(session),
                "form": form or {},
                "error": error,
                "preview": preview,
                "rows": range(VARIANT_ROWS),
                "condition_kinds": CONDITION_KINDS,
                "csrf_token": caller.staff_session.csrf_token if caller.staff_session else "",
            },
            status_code=status_code,
        )


@router.get("", response_class=HTMLResponse, name="console_personalize")
def personalize_page(request: Request, caller: Marketer, store: StoreDep) -> Response:
    """The slots and offers, with forms to add them and to preview a slot."""
    return _page(request, caller, store)


async def _save(request: Request, caller: Caller, store: Store, build: Any, save: Any) -> Response:
    form = _fields(await request.form())

    def run() -> None:
        document = build(form)
        with store.sessions.begin() as session:
            save(session, document)

    try:
        await run_in_threadpool(run)
    except ClientVaultError as exc:
        return _page(request, caller, store, error=exc.message, form=form, status_code=422)
    return RedirectResponse(BASE, status_code=303)


@router.post("/slots", name="console_personalize_slot")
async def create_slot(request: Request, caller: Marketer, store: StoreDep) -> Response:
    """Create the slot the form describes, or show the form again with the error."""
    return await _save(
        request,
        caller,
        store,
        slot_from_form,
        lambda session, doc: slots.save_slot(
            session, slots.read_spec(doc), create=True, by=caller.principal
        ),
    )


@router.post("/offers", name="console_personalize_offer")
async def create_offer(request: Request, caller: Marketer, store: StoreDep) -> Response:
    """Create the offer the form describes, or show the form again with the error."""
    return await _save(
        request,
        caller,
        store,
        offer_from_form,
        lambda session, doc: offers.save_offer(
            session, offers.read_offer(doc), create=True, by=caller.principal
        ),
    )


@router.post("/preview", name="console_personalize_preview")
async def preview(request: Request, caller: Marketer, store: StoreDep) -> Response:
    """What one customer would see in a slot, and why (nothing is recorded)."""
    form = _fields(await request.form())

    def decide() -> slots.Decision:
        try:
            customer_id = uuid.UUID(form.get("customer_id", ""))
        except ValueError as exc:
            raise InvalidInput("customer id: not a customer id") from exc
        with store.read_sessions() as session:
            return slots.decide(session, store, key=form.get("slot", ""), customer_id=customer_id)

    try:
        decision = await run_in_threadpool(decide)
    except ClientVaultError as exc:
        return _page(request, caller, store, error=exc.message, form=form, status_code=422)
    return _page(request, caller, store, preview=decision, form=form)
