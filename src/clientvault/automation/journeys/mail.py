"""Marketing e-mail: templates rendered in jinja2's sandbox, signed tracking links, and the
send itself into the messaging outbox.

Customer values are data handed to the template, never template source: a first name
``{{ 7*7 }}`` is printed as such. The sandbox refuses a template reaching Python internals
(``{{ ''.__class__.__mro__ }}``): rendering fails with ``TemplateFailed``, nothing is sent.
The customer's name is opened through ``security.pii.reveal`` by the journeys' system
principal (one audit entry per send); the address is opened by the outbox's delivery job.

Tracking: an opening pixel and ``link(url)`` redirect links, both carrying a token signed
with HMAC-SHA256 under a key derived from the key file. The click redirect goes only to the
URL inside a valid token, so it cannot serve as an open redirect. Both are added only for
customers who pass the tracking purpose (``automation.tracking_purpose``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from sqlalchemy.orm import Session

from clientvault.automation.journeys.allowed import may_process
from clientvault.automation.journeys.events import record_event
from clientvault.automation.journeys.models import EmailTemplate, JourneyEmail
from clientvault.automation.personalize.blocks import SAMPLE_BLOCKS, email_blocks
from clientvault.errors import InvalidInput, Unauthenticated
from clientvault.identity.models import Customer
from clientvault.messaging import outbox
from clientvault.messaging.outbox import MailBody
from clientvault.privacy import notices
from clientvault.security.pii import reveal
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.settings import Settings
from clientvault.store.context import Store

#: Who opens the customer's name to personalise a journey's e-mail (audited as such).
JOURNEYS = Principal.system("journeys", PII_REVEAL)
OPEN_PATH = "/v1/email/o/"
CLICK_PATH = "/v1/email/c/"
#: What the template's ``customer`` holds: clear attributes and the opened names.
CLEAR_ATTRIBUTES = ("country", "city", "language", "gender", "birth_year")

_TEXT = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
_HTML = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


class TemplateFailed(Exception):
    """A template could not be rendered (syntax, unknown variable, sandbox refusal)."""


@dataclass(frozen=True)
class Rendered:
    """A rendered e-mail."""

    subject: str
    text: str
    html: str


@functools.lru_cache(maxsize=256)
def _compiled(html: bool, source: str) -> Template:
    """A template compiled once (compiling costs far more than rendering)."""
    return (_HTML if html else _TEXT).from_string(source)


def _render_one(env: SandboxedEnvironment, source: str, values: dict[str, Any]) -> str:
    try:
        return _compiled(env is _HTML, source).render(values)
    except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
        # SecurityError is a TemplateError: reaching internals ends here, like a typo.
        raise TemplateFailed(f"{type(exc).__name__}: {exc}"[:200]) from None


#: The customer fields a subject never shows: the outbox keeps subjects in the clear.
_NAMES = ("first_name", "last_name")


def render(
    template: EmailTemplate | tuple[str, str, str],
    context: dict[str, Any],
    *,
    link: Any = None,
) -> Rendered:
    """Render subject, text and HTML in the sandbox with ``context``; ``link(url)`` becomes
    a tracked link when given, else the URL itself. ``TemplateFailed`` on any error.

    The subject is rendered with the names blanked: the outbox stores it in the clear."""
    subject, html, text = (
        (template.subject, template.html, template.text)
        if isinstance(template, EmailTemplate)
        else template
    )
    values = {**context, "link": link or (lambda url: url)}
    customer = values.get("customer")
    clear = (
        {**values, "customer": {**customer, **dict.fromkeys(_NAMES, "")}}
        if isinstance(customer, dict)
        else values
    )
    return Rendered(
        subject=" ".join(_render_one(_TEXT, subject, clear).split())[:200],
        text=_render_one(_TEXT, text, values),
        html=_render_one(_HTML, html, values) if html else "",
    )


def sample_context() -> dict[str, Any]:
    """A made-up customer for previews and for checking a template when it is saved."""
    return {
        "customer": {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "country": "FR",
            "city": "Lyon",
            "language": "fr",
            "gender": None,
            "birth_year": 1990,
            "traits": {},
        },
        "preferences_url": "https://example.invalid/preferences",
        "unsubscribe_url": "https://example.invalid/preferences/unsubscribe",
        **SAMPLE_BLOCKS,
    }


def check_template(subject: str, html: str, text: str) -> Rendered:
    """Render a template with the sample customer: ``InvalidInput`` naming the part that
    fails (so a broken or hostile template is refused when saved, not at send time)."""
    values = {**sample_context(), "link": lambda url: url}
    for part, env, source in (
        ("subject", _TEXT, subject),
        ("html", _HTML, html),
        ("text", _TEXT, text),
    ):
        try:
            _render_one(env, source, values)
        except TemplateFailed as exc:
            raise InvalidInput(f"{part}: {exc}", details={"field": part}) from None
    return render((subject, html, text), sample_context())


def customer_context(
    session: Session,
    store: Store,
    customer: Customer,
    *,
    reason: str,
    principal: Principal = JOURNEYS,
) -> dict[str, Any]:
    """The template's ``customer``: clear attributes and traits, and the first and last
    names opened through the audited reveal path (by ``principal``, the journeys' own by
    default)."""
    opened = reveal(
        session,
        store.keystore,
        principal=principal,
        subject_type="customer",
        rows={
            customer.id: {
                "first_name": customer.first_name_sealed,
                "last_name": customer.last_name_sealed,
            }
        },
        reason=reason,
    )[customer.id]
    return {**attributes_of(customer), **opened}


def attributes_of(customer: Customer) -> dict[str, Any]:
    """A customer's clear attributes and custom traits (no identifier): what conditions,
    campaign filters and templates read without opening anything."""
    values: dict[str, Any] = {name: getattr(customer, name) for name in CLEAR_ATTRIBUTES}
    values["traits"] = dict(customer.traits or {})
    return values


# --- signed tracking tokens ------------------------------------------------------------


def tracking_key(store: Store, settings: Settings) -> bytes:
    """The HMAC key of tracking tokens, derived from the key file's index key."""
    return hmac.new(
        store.keystore.material.index_key, b"clientvault/email-tracking/v1", hashlib.sha256
    ).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, payload: dict[str, Any]) -> str:
    """A token carrying ``payload`` (JSON) and its HMAC."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(body)}.{_b64(hmac.new(key, body, hashlib.sha256).digest()[:16])}"


def verify(key: bytes, token: str) -> dict[str, Any]:
    """The payload of a token signed with ``key``; ``Unauthenticated`` for anything else."""
    try:
        body_text, mac_text = token.split(".", 1)
        body = _unb64(body_text)
        expected = hmac.new(key, body, hashlib.sha256).digest()[:16]
        if len(token) > 4000 or not hmac.compare_digest(expected, _unb64(mac_text)):
            raise ValueError
        payload = json.loads(body)
    except ValueError:
        raise Unauthenticated("this link is not valid") from None
    if not isinstance(payload, dict):
        raise Unauthenticated("this link is not valid")
    return payload


# --- sending ---------------------------------------------------------------------------


def tracking_allowed(session: Session, settings: Settings, customer_id: uuid.UUID) -> bool:
    """Whether the customer passes the tracking purpose (opens and clicks are recorded)."""
    return may_process(session, settings.automation.tracking_purpose, customer_id)


def queue_email(
    session: Session,
    store: Store,
    settings: Settings,
    *,
    customer: Customer,
    template: EmailTemplate,
    journey_id: uuid.UUID | None,
    run_id: int | None,
    step_id: str,
) -> JourneyEmail:
    """Render ``template`` for ``customer`` and queue it in the outbox, in the caller's
    transaction (with the preference-centre link and one-click unsubscribe headers).
    ``TemplateFailed`` when it cannot be rendered, ``NotFound`` for an erased customer."""
    key = outbox.sealing_key(store, customer.id)
    sent = JourneyEmail(
        customer_id=customer.id,
        journey_id=journey_id,
        run_id=run_id,
        step_id=step_id,
        template=template.name,
    )
    session.add(sent)
    session.flush()
    policy = settings.privacy
    token = notices.preferences_link(session, store, policy=policy, customer_id=customer.id)
    preferences_url = notices.link_url(policy, notices.PREFERENCES_PATH, token)
    unsubscribe_url = notices.link_url(policy, notices.UNSUBSCRIBE_PATH, token)
    base = policy.public_url.rstrip("/")
    track = tracking_allowed(session, settings, customer.id)
    signing = tracking_key(store, settings)

    def link(url: object) -> str:
        target = str(url)
        if not track or not target.startswith(("http://", "https://")):
            return target
        return f"{base}{CLICK_PATH}{sign(signing, {'e': sent.id, 'u': target})}"

    context = {
        "customer": customer_context(
            session, store, customer, reason=f"personalised e-mail, journey e-mail {sent.id}"
        ),
        "preferences_url": preferences_url,
        "unsubscribe_url": unsubscribe_url,
        **email_blocks(
            session, customer.id, sources=f"{template.subject}{template.html}{template.text}"
        ),
    }
    rendered = render(template, context, link=link)
    html = rendered.html
    if html:
        html += Markup(
            '<p style="font-size:12px">'
            '<a href="{0}">Manage your preferences</a> · <a href="{1}">Unsubscribe</a></p>'
        ).format(preferences_url, unsubscribe_url)
        if track:
            pixel = f"{base}{OPEN_PATH}{sign(signing, {'e': sent.id})}"
            html += Markup('<img src="{0}" width="1" height="1" alt="">').format(pixel)
    text = (
        f"{rendered.text}\n\n-- \nManage your preferences: {preferences_url}\n"
        f"Unsubscribe: {unsubscribe_url}\n"
    )
    message = outbox.enqueue(
        session,
        key=key,
        customer_id=customer.id,
        template=f"journey:{template.name}"[:32],
        subject=rendered.subject or template.name,
        body=MailBody(
            text=text,
            preferences_url=preferences_url,
            unsubscribe_url=unsubscribe_url,
            html=html or None,
        ),
    )
    sent.outbox_id = message.id
    return sent


def record_tracking(
    session: Session, store: Store, settings: Settings, token: str, *, click: bool
) -> str | None:
    """Record an opening (pixel) or a click (``Email Opened`` / ``Email Link Clicked``) for
    a valid token, if the customer still passes the tracking purpose; returns the click's
    target URL (only ever one signed into the token). ``Unauthenticated`` for a bad token."""
    payload = verify(tracking_key(store, settings), token)
    email_id, url = payload.get("e"), payload.get("u")
    if not isinstance(email_id, int) or (click and not isinstance(url, str)):
        raise Unauthenticated("this link is not valid")
    sent = session.get(JourneyEmail, email_id)
    if sent is not None and tracking_allowed(session, settings, sent.customer_id):
        properties: dict[str, Any] = {
            "journey_id": str(sent.journey_id) if sent.journey_id else None,
            "step": sent.step_id,
            "template": sent.template,
            "email_id": sent.id,
        }
        if click:
            properties["url"] = url
        record_event(
            session,
            customer_id=sent.customer_id,
            name="Email Link Clicked" if click else "Email Opened",
            message_id=f"cv-email-{'click' if click else 'open'}-{uuid.uuid4().hex}",
            properties=properties,
        )
    return url if click and isinstance(url, str) else None
