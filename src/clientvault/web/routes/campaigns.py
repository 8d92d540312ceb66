"""Campaigns & workflows (``/console/campaigns``), for marketers: the journeys with their
funnels, a form-based journey editor (trigger and each step in forms, no JSON), status
changes, and the e-mail template editor with a preview rendered in the sandbox."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from clientvault.automation.journeys import (
    campaigns,
    catalogue,
    definition,
    describe,
    optin,
    testsend,
)
from clientvault.automation.journeys.mail import Rendered
from clientvault.errors import ClientVaultError, InvalidInput, Unauthenticated
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.privacy.purposes import list_purposes
from clientvault.segments.service import list_segments
from clientvault.store.context import Store
from clientvault.web import campaign_form, journey_form
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/campaigns", include_in_schema=False)
#: The public page of the newsletter's double opt-in (no sign-in: the signed link is the key).
public_router = APIRouter(include_in_schema=False)
Marketer = Annotated[Caller, Depends(Authorize("campaigns:manage"))]
TemplateName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
BASE = f"{CONSOLE_PREFIX}/campaigns"


def _csrf(caller: Caller) -> str:
    return caller.staff_session.csrf_token if caller.staff_session else ""


def _form_fields(raw: Any) -> dict[str, str]:
    return {key: value for key, value in raw.items() if isinstance(value, str)}


@router.get("", response_class=HTMLResponse, name="console_campaigns")
def campaigns_page(request: Request, caller: Marketer, store: StoreDep) -> Response:
    """The journeys (status, version, people in flight, conversions) and the templates."""
    with store.read_sessions() as session, session.begin():
        journeys = [
            (j, catalogue.journey_stats(session, j)) for j in catalogue.list_journeys(session)
        ]
        templates = catalogue.list_templates(session)
        return render(
            request,
            "campaigns/index.html",
            {
                "title": "Campaigns & workflows",
                "journeys": journeys,
                "templates": templates,
                "campaigns": campaigns.list_campaigns(session),
            },
        )


def _editor(
    request: Request,
    caller: Caller,
    *,
    form: dict[str, str],
    error: str | None,
    journey: Any,
    static_segments: list[str],
    status_code: int = 200,
) -> Response:
    count = int(form.get("step_count", "0") or "0")
    return render(
        request,
        "campaigns/editor.html",
        {
            "title": f"Edit {journey.name}" if journey else "New journey",
            "journey": journey,
            "form": form,
            "rows": range(count + journey_form.BLANK_STEPS),
            "step_fields": journey_form.STEP_FIELDS,
            "step_types": journey_form.STEP_TYPES,
            "trigger_kinds": journey_form.TRIGGER_KINDS,
            "date_attributes": journey_form.DATE_ATTRIBUTES,
            "static_segments": static_segments,
            "ops": journey_form.OPS,
            "error": error,
            "csrf_token": _csrf(caller),
        },
        status_code=status_code,
    )


def _static_segments(store: Store) -> list[str]:
    """The static segments' slugs, offered by the segment steps' fields."""
    with store.read_sessions() as session, session.begin():
        return [s.slug for s in list_segments(session) if s.kind == "static"]


@router.get("/journeys/new", response_class=HTMLResponse, name="console_journey_new")
def new_journey(request: Request, caller: Marketer, store: StoreDep) -> Response:
    """An empty editor."""
    blank = {
        "trigger_kind": "event",
        "step_count": "0",
        "reentry_mode": "once",
        "holdout_percent": "0",
    }
    return _editor(
        request,
        caller,
        form=blank,
        error=None,
        journey=None,
        static_segments=_static_segments(store),
    )


@router.post("/journeys/new", name="console_journey_create")
async def create_journey(
    request: Request, caller: Marketer, store: StoreDep, settings: SettingsDep
) -> Response:
    """Create the journey the form describes (as a draft), or show the form with the error."""
    form = _form_fields(await request.form())
    form["step_count"] = str(int(form.get("step_count", "0") or "0") + journey_form.BLANK_STEPS)

    def save() -> uuid.UUID:
        with store.sessions.begin() as session:
            made = catalogue.create_journey(
                session,
                name=form.get("name", ""),
                description=form.get("description", ""),
                definition=journey_form.definition_from_form(form),
                by=caller.principal,
                webhook_networks=settings.automation.webhook_allowed_networks,
            )
            return made.id

    try:
        journey_id = await run_in_threadpool(save)
    except ClientVaultError as exc:
        return await _refused(request, caller, store, form, exc, None)
    return RedirectResponse(f"{BASE}/journeys/{journey_id}", status_code=303)


@router.get("/journeys/{journey_id}", response_class=HTMLResponse, name="console_journey")
def journey_page(
    journey_id: uuid.UUID, request: Request, caller: Marketer, store: StoreDep
) -> Response:
    """A journey: its funnel per step, conversions against its holdout, status buttons."""
    with store.read_sessions() as session, session.begin():
        journey = catalogue.get_journey(session, journey_id)
        document = catalogue.definition_document(session, journey)
        parsed = definition.parse(document)
        return render(
            request,
            "campaigns/journey.html",
            {
                "title": journey.name,
                "journey": journey,
                "stats": catalogue.journey_stats(session, journey),
                "definition": document,
                "trigger_text": describe.describe_trigger(parsed.trigger),
                "step_texts": describe.describe_steps(parsed),
                "csrf_token": _csrf(caller),
            },
        )


@router.get("/journeys/{journey_id}/edit", response_class=HTMLResponse, name="console_journey_edit")
def edit_journey(
    journey_id: uuid.UUID, request: Request, caller: Marketer, store: StoreDep
) -> Response:
    """The editor filled with the current version."""
    with store.read_sessions() as session, session.begin():
        journey = catalogue.get_journey(session, journey_id)
        form = journey_form.form_from_definition(catalogue.definition_document(session, journey))
        form["name"] = journey.name
    return _editor(
        request,
        caller,
        form=form,
        error=None,
        journey=journey,
        static_segments=_static_segments(store),
    )


@router.post("/journeys/{journey_id}/edit", name="console_journey_save")
async def save_journey(
    journey_id: uuid.UUID,
    request: Request,
    caller: Marketer,
    store: StoreDep,
    settings: SettingsDep,
) -> Response:
    """Save the form as the journey's next version (people in flight keep theirs)."""
    form = _form_fields(await request.form())
    form["step_count"] = str(int(form.get("step_count", "0") or "0") + journey_form.BLANK_STEPS)

    def save() -> None:
        with store.sessions.begin() as session:
            catalogue.new_version(
                session,
                journey_id,
                definition=journey_form.definition_from_form(form),
                by=caller.principal,
                webhook_networks=settings.automation.webhook_allowed_networks,
            )

    try:
        await run_in_threadpool(save)
    except ClientVaultError as exc:
        return await _refused(request, caller, store, form, exc, journey_id)
    return RedirectResponse(f"{BASE}/journeys/{journey_id}", status_code=303)


async def _refused(
    request: Request,
    caller: Caller,
    store: Store,
    form: dict[str, str],
    error: ClientVaultError,
    journey_id: uuid.UUID | None,
) -> Response:
    """The editor again, as it was filled, with why the save was refused."""

    def read() -> tuple[Any, list[str]]:
        with store.read_sessions() as session:
            journey = catalogue.get_journey(session, journey_id) if journey_id else None
        return journey, _static_segments(store)

    journey, static = await run_in_threadpool(read)
    return _editor(
        request,
        caller,
        form=form,
        error=error.message,
        journey=journey,
        static_segments=static,
        status_code=422,
    )


@router.post("/journeys/{journey_id}/status", name="console_journey_status")
async def change_status(
    journey_id: uuid.UUID, request: Request, caller: Marketer, store: StoreDep
) -> Response:
    """Activate, pause, resume or archive, then back to the journey."""
    action = str((await request.form()).get("action", ""))

    def change() -> None:
        with store.sessions.begin() as session:
            catalogue.change_status(session, journey_id, action, by=caller.principal)

    await run_in_threadpool(change)
    return RedirectResponse(f"{BASE}/journeys/{journey_id}", status_code=303)


def _template_page(
    request: Request,
    caller: Caller,
    *,
    name: str,
    form: dict[str, str],
    preview: Rendered | None,
    error: str | None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "campaigns/template.html",
        {
            "title": f"Template {name}" if name else "New template",
            "name": name,
            "form": form,
            "preview": preview,
            "error": error,
            "notice": notice,
            "csrf_token": _csrf(caller),
            "staff_email": caller.user.email if caller.user else "",
        },
        status_code=status_code,
    )


def _campaign_form(
    request: Request,
    caller: Caller,
    store: Store,
    *,
    form: dict[str, str],
    error: str | None,
    status_code: int = 200,
) -> Response:
    with store.read_sessions() as session:
        templates = [t.name for t in catalogue.list_templates(session)]
        purposes = [p.code for p in list_purposes(session)]
    return render(
        request,
        "campaigns/campaign_new.html",
        {
            "title": "Schedule a campaign",
            "form": form,
            "error": error,
            "templates": templates,
            "purposes": purposes,
            "rows": range(campaign_form.VARIANT_ROWS),
            "metrics": campaign_form.WINNER_METRICS,
            "csrf_token": _csrf(caller),
        },
        status_code=status_code,
    )


@router.get("/campaigns/new", response_class=HTMLResponse, name="console_campaign_new")
def new_campaign(request: Request, caller: Marketer, store: StoreDep) -> Response:
    """The campaign scheduler: audience, variants, when, and the winner rule."""
    blank = {"purpose": "marketing_email", "v0_name": "A", "v0_percent": "100"}
    return _campaign_form(request, caller, store, form=blank, error=None)


@router.post("/campaigns/new", name="console_campaign_schedule")
async def schedule_campaign(
    request: Request, caller: Marketer, store: StoreDep, settings: SettingsDep
) -> Response:
    """Schedule the campaign the form describes, or show the form with the error."""
    form = _form_fields(await request.form())

    def schedule() -> None:
        document = campaign_form.campaign_from_form(form, settings.zone)
        with store.sessions.begin() as session:
            campaigns.schedule_campaign(session, document, by=caller.principal)

    try:
        await run_in_threadpool(schedule)
    except ClientVaultError as exc:
        return _campaign_form(request, caller, store, form=form, error=exc.message, status_code=422)
    return RedirectResponse(BASE, status_code=303)


@router.get("/templates/new", response_class=HTMLResponse, name="console_template_new")
def new_template(request: Request, caller: Marketer) -> Response:
    """An empty template editor."""
    return _template_page(request, caller, name="", form={}, preview=None, error=None)


@router.get("/templates/{name}", response_class=HTMLResponse, name="console_template")
def template_page(
    name: TemplateName, request: Request, caller: Marketer, store: StoreDep
) -> Response:
    """A template in the editor, with its preview for the sample customer."""
    with store.read_sessions() as session, session.begin():
        row = catalogue.get_template(session, name)
        form = {"name": row.name, "subject": row.subject, "html": row.html, "text": row.text}
    try:
        preview = catalogue.preview_template(form["subject"], form["html"], form["text"])
    except ClientVaultError as exc:
        return _template_page(
            request, caller, name=name, form=form, preview=None, error=exc.message
        )
    return _template_page(request, caller, name=name, form=form, preview=preview, error=None)


@router.post("/templates/{name}/test-send", name="console_template_test_send")
async def test_send(
    name: TemplateName, request: Request, caller: Marketer, store: StoreDep
) -> Response:
    """Send the saved template rendered for a customer to a staff address; the editor again
    with what happened."""
    form = _form_fields(await request.form())
    settings = request.app.state.settings

    def send() -> tuple[dict[str, str], testsend.TestSend]:
        with store.read_sessions() as session:
            row = catalogue.get_template(session, name)
            saved = {"name": row.name, "subject": row.subject, "html": row.html, "text": row.text}
        try:
            customer_id = uuid.UUID(form.get("customer_id", "").strip())
        except ValueError:
            raise InvalidInput(
                "customer id: not a customer id", details={"field": "customer_id"}
            ) from None
        sent = testsend.send_test(
            store,
            settings,
            template_name=name,
            customer_id=customer_id,
            to=form.get("to", ""),
            by=caller.principal,
        )
        return saved, sent

    try:
        saved, sent = await run_in_threadpool(send)
    except ClientVaultError as exc:
        return _template_page(
            request, caller, name=name, form=form, preview=None, error=exc.message, status_code=422
        )
    names = "" if sent.names_revealed else " (with sample names: you may not see the customer's)"
    return _template_page(
        request,
        caller,
        name=name,
        form={**saved, **form},
        preview=None,
        error=None,
        notice=f"Test e-mail “{sent.subject}” sent to {sent.to}{names}.",
    )


@router.post("/templates", name="console_template_save")
async def save_template(request: Request, caller: Marketer, store: StoreDep) -> Response:
    """Preview (button ``preview``) or save the template; errors name the failing part."""
    form = _form_fields(await request.form())
    name = form.get("name", "").strip()
    subject, html, text = form.get("subject", ""), form.get("html", ""), form.get("text", "")
    try:
        preview = catalogue.preview_template(subject, html, text)
        if form.get("do") != "preview":

            def save() -> None:
                with store.sessions.begin() as session:
                    catalogue.save_template(
                        session,
                        name=name,
                        subject=subject,
                        html=html,
                        text=text,
                        by=caller.principal,
                    )

            await run_in_threadpool(save)
            return RedirectResponse(f"{BASE}/templates/{name}", status_code=303)
    except ClientVaultError as exc:
        return _template_page(
            request, caller, name=name, form=form, preview=None, error=exc.message, status_code=422
        )
    return _template_page(request, caller, name=name, form=form, preview=preview, error=None)


def _newsletter_page(
    request: Request,
    *,
    token: str = "",
    confirmed: optin.Confirmation | None = None,
    error: str | None = None,
) -> Response:
    return render(
        request,
        "preferences/newsletter.html",
        {
            "title": "Newsletter subscription",
            "path": optin.CONFIRM_PATH,
            "token": token,
            "confirmed": confirmed,
            "error": error,
            "policy": request.app.state.settings.privacy,
        },
        status_code=403 if error else 200,
    )


@public_router.get(optin.CONFIRM_PATH, response_class=HTMLResponse, name="newsletter_confirm")
def newsletter_confirm_page(
    request: Request,
    store: StoreDep,
    token: Annotated[str, Query()] = "",
) -> Response:
    """The confirmation link's page: a button that confirms, or why the link does not work
    (forged, altered, expired). Nothing is recorded by opening it."""
    try:
        with store.read_sessions() as session:
            optin.pending(session, store, token)
    except Unauthenticated as exc:
        return _newsletter_page(request, error=exc.message)
    return _newsletter_page(request, token=token)


@public_router.post(optin.CONFIRM_PATH, response_class=HTMLResponse, name="newsletter_confirmed")
def newsletter_confirm(
    request: Request,
    store: StoreDep,
    token: Annotated[str, Form()] = "",
) -> Response:
    """Confirm the sign-up: consent is recorded now (with the time and the link's id)."""
    try:
        with store.sessions.begin() as session:
            confirmed = optin.confirm_optin(session, store, token)
    except Unauthenticated as exc:
        return _newsletter_page(request, error=exc.message)
    return _newsletter_page(request, confirmed=confirmed)
