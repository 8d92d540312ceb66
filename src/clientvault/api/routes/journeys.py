"""Journeys, e-mail templates and the do-not-contact list (marketers; the list for the DPO),
and the public open-pixel and click-redirect of marketing e-mails."""

from __future__ import annotations

import base64
import contextlib
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from clientvault.automation.journeys import campaigns, catalogue, definition, mail, testsend
from clientvault.automation.journeys.models import EmailTemplate, Journey
from clientvault.errors import Unauthenticated
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, get_store

router = APIRouter(prefix="/api/v1", tags=["journeys"])
tracking = APIRouter(prefix="/v1/email", tags=["journeys"])
Marketer = Annotated[Caller, Depends(Authorize("campaigns:manage"))]
Dpo = Annotated[Caller, Depends(Authorize("privacy:manage"))]
TemplateName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
#: A transparent 1x1 GIF, the opening pixel.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


class JourneyCreate(BaseModel):
    """A new journey: its name and its definition (see ``GET /api/v1/journeys/schema``)."""

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    definition: dict[str, Any]


class DefinitionUpdate(BaseModel):
    """A journey's next version."""

    definition: dict[str, Any]


class JourneyRead(BaseModel):
    """A journey as listed."""

    id: uuid.UUID
    name: str
    description: str
    status: str
    current_version: int
    trigger_kind: str
    updated_at: datetime


class StepFunnel(BaseModel):
    """How many runs went through a step, by outcome."""

    step_id: str
    total: int
    outcomes: dict[str, int]


class JourneyDetail(JourneyRead):
    """A journey with its current definition and funnel."""

    definition: dict[str, Any]
    runs: dict[str, int]
    steps: list[StepFunnel]
    entrants: int
    converted: int
    holdout: int
    holdout_converted: int


class TemplateWrite(BaseModel):
    """An e-mail template: jinja2 (sandboxed) subject, HTML and plain text."""

    subject: str = Field(min_length=1, max_length=200)
    html: str = Field(default="", max_length=200_000)
    text: str = Field(min_length=1, max_length=100_000)


class TemplateRead(TemplateWrite):
    """A stored template."""

    name: str
    updated_at: datetime


class PreviewRead(BaseModel):
    """A template rendered for the sample customer."""

    subject: str
    html: str
    text: str


class DoNotContactWrite(BaseModel):
    """A customer put on the do-not-contact list by hand."""

    customer_id: uuid.UUID
    note: str = Field(default="", max_length=200)


class DoNotContactRead(DoNotContactWrite):
    """An entry of the do-not-contact list."""

    reason: str
    created_at: datetime


def _read(journey: Journey) -> JourneyRead:
    return JourneyRead.model_validate(journey, from_attributes=True)


def _template(row: EmailTemplate) -> TemplateRead:
    return TemplateRead.model_validate(row, from_attributes=True)


@router.get("/journeys/schema")
def journey_schema(caller: Marketer) -> dict[str, Any]:
    """The JSON Schema of a journey definition."""
    return definition.json_schema()


@router.get("/journeys", response_model=list[JourneyRead])
def journeys(request: Request, caller: Marketer) -> list[JourneyRead]:
    """Every journey."""
    with get_store(request).read_sessions() as session:
        return [_read(j) for j in catalogue.list_journeys(session)]


@router.post("/journeys", response_model=JourneyRead, status_code=201)
def create(
    body: JourneyCreate, request: Request, caller: Marketer, settings: SettingsDep
) -> JourneyRead:
    """Create a journey (as a draft); errors name the faulty step."""
    with get_store(request).sessions.begin() as session:
        made = catalogue.create_journey(
            session,
            name=body.name,
            description=body.description,
            definition=body.definition,
            by=caller.principal,
            webhook_networks=settings.automation.webhook_allowed_networks,
        )
        return _read(made)


@router.get("/journeys/{journey_id}", response_model=JourneyDetail)
def show(journey_id: uuid.UUID, request: Request, caller: Marketer) -> JourneyDetail:
    """A journey, its current definition and its funnel per step."""
    with get_store(request).read_sessions() as session:
        journey = catalogue.get_journey(session, journey_id)
        stats = catalogue.journey_stats(session, journey)
        return JourneyDetail(
            **_read(journey).model_dump(),
            definition=catalogue.definition_document(session, journey),
            runs=stats.runs,
            steps=[
                StepFunnel(step_id=s.step_id, total=s.total, outcomes=s.outcomes)
                for s in stats.steps
            ],
            entrants=stats.entrants,
            converted=stats.converted,
            holdout=stats.holdout,
            holdout_converted=stats.holdout_converted,
        )


@router.put("/journeys/{journey_id}/definition", response_model=JourneyRead)
def update(
    journey_id: uuid.UUID,
    body: DefinitionUpdate,
    request: Request,
    caller: Marketer,
    settings: SettingsDep,
) -> JourneyRead:
    """Save a new version: new entrants get it, people in flight finish on theirs."""
    with get_store(request).sessions.begin() as session:
        return _read(
            catalogue.new_version(
                session,
                journey_id,
                definition=body.definition,
                by=caller.principal,
                webhook_networks=settings.automation.webhook_allowed_networks,
            )
        )


@router.post("/journeys/{journey_id}/{action}", response_model=JourneyRead)
def change(
    journey_id: uuid.UUID,
    action: Literal["activate", "pause", "resume", "archive"],
    request: Request,
    caller: Marketer,
) -> JourneyRead:
    """Activate, pause, resume or archive a journey."""
    with get_store(request).sessions.begin() as session:
        return _read(catalogue.change_status(session, journey_id, action, by=caller.principal))


@router.get("/email-templates", response_model=list[TemplateRead])
def templates(request: Request, caller: Marketer) -> list[TemplateRead]:
    """Every e-mail template."""
    with get_store(request).read_sessions() as session:
        return [_template(t) for t in catalogue.list_templates(session)]


@router.post("/email-templates/preview", response_model=PreviewRead)
def preview(body: TemplateWrite, caller: Marketer) -> PreviewRead:
    """Render a template for the sample customer (refused like a save if it fails)."""
    rendered = catalogue.preview_template(body.subject, body.html, body.text)
    return PreviewRead(subject=rendered.subject, html=rendered.html, text=rendered.text)


class TestSendWrite(BaseModel):
    """A test send: the customer to render the template for, and the staff address to send
    it to (default: the caller's own)."""

    customer_id: uuid.UUID
    to: str | None = Field(default=None, min_length=3, max_length=254)


class TestSendRead(BaseModel):
    """What a test send sent (``names_revealed``: the customer's own names were used)."""

    to: str
    subject: str
    names_revealed: bool


@router.post("/email-templates/{name}/test-send", response_model=TestSendRead)
def test_send(
    name: TemplateName,
    body: TestSendWrite,
    request: Request,
    caller: Marketer,
    settings: SettingsDep,
) -> TestSendRead:
    """Send the template rendered for a customer to a staff member's address, at once."""
    sent = testsend.send_test(
        get_store(request),
        settings,
        template_name=name,
        customer_id=body.customer_id,
        to=body.to,
        by=caller.principal,
    )
    return TestSendRead(to=sent.to, subject=sent.subject, names_revealed=sent.names_revealed)


@router.get("/email-templates/{name}", response_model=TemplateRead)
def template(name: TemplateName, request: Request, caller: Marketer) -> TemplateRead:
    """One template."""
    with get_store(request).read_sessions() as session:
        return _template(catalogue.get_template(session, name))


@router.put("/email-templates/{name}", response_model=TemplateRead)
def save(
    name: TemplateName, body: TemplateWrite, request: Request, caller: Marketer
) -> TemplateRead:
    """Create or replace a template, checked in the sandbox first."""
    with get_store(request).sessions.begin() as session:
        return _template(
            catalogue.save_template(
                session,
                name=name,
                subject=body.subject,
                html=body.html,
                text=body.text,
                by=caller.principal,
            )
        )


@router.delete("/email-templates/{name}", status_code=204)
def delete(name: TemplateName, request: Request, caller: Marketer) -> Response:
    """Delete a template."""
    with get_store(request).sessions.begin() as session:
        catalogue.delete_template(session, name, by=caller.principal)
    return Response(status_code=204)


@router.get("/do-not-contact", response_model=list[DoNotContactRead])
def do_not_contact(request: Request, caller: Dpo) -> list[DoNotContactRead]:
    """Customers who get no marketing e-mail, and why (bounced, unsubscribed, manual)."""
    with get_store(request).read_sessions() as session:
        return [
            DoNotContactRead.model_validate(row, from_attributes=True)
            for row in catalogue.do_not_contact_list(session)
        ]


@router.post("/do-not-contact", response_model=DoNotContactRead, status_code=201)
def add_entry(body: DoNotContactWrite, request: Request, caller: Dpo) -> DoNotContactRead:
    """Put a customer on the list by hand (audited)."""
    with get_store(request).sessions.begin() as session:
        row = catalogue.add_to_do_not_contact(
            session, body.customer_id, note=body.note, by=caller.principal
        )
        return DoNotContactRead.model_validate(row, from_attributes=True)


@router.delete("/do-not-contact/{customer_id}", status_code=204)
def remove_entry(customer_id: uuid.UUID, request: Request, caller: Dpo) -> Response:
    """Take a customer off the list (audited)."""
    with get_store(request).sessions.begin() as session:
        catalogue.remove_from_do_not_contact(session, customer_id, by=caller.principal)
    return Response(status_code=204)


class CampaignRead(BaseModel):
    """A campaign, with its recipients counted by outcome."""

    id: uuid.UUID
    name: str
    purpose: str
    filters: list[dict[str, Any]]
    variants: list[dict[str, Any]]
    status: str
    send_at: datetime
    finished_at: datetime | None
    recipients: dict[str, int]
    test_percent: int | None = None
    winner_metric: str | None = None
    winner_goal: str | None = None
    winner_after_hours: float | None = None
    winner_at: datetime | None = None
    winner_variant: str | None = None
    #: The figures the winner was chosen on: ``variants`` → ``{sent, converted, rate}``.
    winner_decision: dict[str, Any] | None = None


@router.get("/campaigns", response_model=list[CampaignRead])
def campaign_list(request: Request, caller: Marketer) -> list[CampaignRead]:
    """Every campaign, newest first."""
    with get_store(request).read_sessions() as session:
        return [
            CampaignRead.model_validate({**_columns(c), "recipients": counts})
            for c, counts in campaigns.list_campaigns(session)
        ]


@router.post("/campaigns", response_model=CampaignRead, status_code=201)
def campaign_create(body: dict[str, Any], request: Request, caller: Marketer) -> CampaignRead:
    """Schedule a campaign: ``name``, ``variants`` (``name``, ``template``, ``percent``),
    optional ``filters`` on customer attributes, ``purpose`` and ``send_at`` (default: now).
    With ``test_percent`` the variants go to that share only, and after
    ``winner_after_hours`` the best by ``winner_metric`` (``opens``, ``clicks``, or ``goal``
    with ``winner_goal`` an event name) goes to the rest."""
    with get_store(request).sessions.begin() as session:
        made = campaigns.schedule_campaign(session, body, by=caller.principal)
        return CampaignRead.model_validate({**_columns(made), "recipients": {}})


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignRead)
def campaign_cancel(campaign_id: uuid.UUID, request: Request, caller: Marketer) -> CampaignRead:
    """Cancel a campaign not yet sent."""
    with get_store(request).sessions.begin() as session:
        made = campaigns.cancel_campaign(session, campaign_id, by=caller.principal)
        return CampaignRead.model_validate({**_columns(made), "recipients": {}})


def _columns(row: Any) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


@tracking.get("/o/{token}", include_in_schema=False)
def opened(token: str, request: Request, settings: SettingsDep) -> Response:
    """The opening pixel: records ``Email Opened`` (if allowed) and answers a 1x1 GIF; a bad
    token gets the same pixel, so the pixel reveals nothing."""
    store = get_store(request)
    with contextlib.suppress(Unauthenticated), store.sessions.begin() as session:
        mail.record_tracking(session, store, settings, token, click=False)
    return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})


@tracking.get("/c/{token}", include_in_schema=False)
def clicked(token: str, request: Request, settings: SettingsDep) -> RedirectResponse:
    """A tracked link: records ``Email Link Clicked`` (if allowed) and redirects to the URL
    signed into the token, never to one given by the caller (no open redirect)."""
    store = get_store(request)
    with store.sessions.begin() as session:
        url = mail.record_tracking(session, store, settings, token, click=True)
    assert url is not None
    return RedirectResponse(url, status_code=302)
