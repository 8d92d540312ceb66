"""Identity pages: the review queue (``/console/identity/review``, ``identity:review``). The
customer list is ``web/routes/customers.py``, the 360° page ``web/routes/customer360.py``.

The queue shows each candidate's two profiles side by side (pseudonymised; a reviewer with
``pii:reveal`` may open their identifiers for a stated reason, audited, which holds for a few
minutes: ``security.reveal_window``) and the match weight
of each comparison as a bar. Merge, reject and un-merge are POST forms carrying the session's
CSRF token, which ``Authorize`` checks like every console form.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from clientvault.errors import Conflict, InvalidInput, NotFound
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import StoreDep
from clientvault.http.params import RowId
from clientvault.identity import review
from clientvault.identity.merges import unmerge
from clientvault.identity.models import SEALED_FIELDS
from clientvault.identity.profiles import reveal_identifiers
from clientvault.identity.schemas import CandidateRead, CustomerIdentifiers
from clientvault.security import reveal_window
from clientvault.security.principal import PII_REVEAL
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)
Review = Annotated[Caller, Depends(Authorize("identity:review"))]
ReasonField = Annotated[str, Form(min_length=3, max_length=200)]

REVIEW_PATH = f"{CONSOLE_PREFIX}/identity/review"
PAGE_SIZE = 20
RECENT_MERGES = 20
#: Attributes shown side by side for each profile of a pair (clear, coarse ones).
COMPARED = ("source", "created_at", "country", "city", "postal_prefix", "birth_year", "gender")
PROBLEMS = {
    "conflict": "That was already decided, or the profiles changed since: nothing was done.",
    "not_found": "That candidate, merge or profile no longer exists.",
    "invalid_input": "The decision was refused: check the profiles and the reason.",
}
NOTICES = {
    "merged": "The two profiles were merged.",
    "rejected": "The candidate was rejected: the profiles stay apart.",
    "unmerged": "The merge was undone: both profiles are back as they were.",
}
#: Half the width of a weight bar in match-weight units (weights beyond it fill the bar).
BAR_RANGE = 10.0


@dataclass(frozen=True)
class Bar:
    """One comparison's match weight as a bar drawn from the centre (SVG, no inline style)."""

    comparison: str
    level: str
    weight: float
    x: float
    width: float


@dataclass(frozen=True)
class Pair:
    """One candidate as the queue shows it."""

    candidate: CandidateRead
    profiles: list[dict[str, Any]]
    bars: list[Bar]


def weight_bars(explanation: list[Any]) -> list[Bar]:
    """Bars for the explanation: positive weights grow right of the centre, negative left."""
    bars = []
    for item in explanation:
        clipped = max(-BAR_RANGE, min(BAR_RANGE, item.weight))
        x = BAR_RANGE + min(clipped, 0.0)
        bars.append(Bar(item.comparison, item.level, item.weight, x, abs(clipped)))
    return bars


def _profile_cells(
    session: Session, ids: list[uuid.UUID], opened: dict[uuid.UUID, CustomerIdentifiers]
) -> dict[uuid.UUID, dict[str, Any]]:
    cells = {}
    for customer in review.candidate_profiles(session, ids):
        row: dict[str, Any] = {"id": customer.id, "status": customer.status}
        row.update({name: getattr(customer, name) for name in COMPARED})
        row["has_email"] = customer.email_sealed is not None
        row["has_phone"] = customer.phone_sealed is not None
        row["identifiers"] = opened.get(customer.id)
        cells[customer.id] = row
    return cells


@router.get("/identity/review", response_class=HTMLResponse, name="console_identity_review")
def review_page(
    request: Request,
    caller: Review,
    store: StoreDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    done: Annotated[str | None, Query(max_length=16)] = None,
    problem: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """Pending candidates, most probable first, with their explanation; recent merges.

    Identifiers are shown while the reviewer's reveal window is open (``/console/reveal``):
    the reason is given once, not after every merge."""
    reason = reveal_window.current_reason(caller.staff_session, caller.principal)
    # Revealing writes audit entries; otherwise the page only reads.
    sessions = store.sessions if reason else store.read_sessions
    with sessions() as session, session.begin():
        candidates = review.list_candidates(
            session, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
        )
        shown, more = candidates[:PAGE_SIZE], len(candidates) > PAGE_SIZE
        ids = list(dict.fromkeys(i for c in shown for i in (c.left_id, c.right_id)))
        opened: dict[uuid.UUID, CustomerIdentifiers] = {}
        if reason and ids:
            opened = reveal_identifiers(
                session,
                store,
                principal=caller.principal,
                customer_ids=ids,
                fields=SEALED_FIELDS,
                reason=reason,
            )
        cells = _profile_cells(session, ids, opened)
        pairs = [
            Pair(c, [cells[c.left_id], cells[c.right_id]], weight_bars(c.explanation))
            for c in shown
            if c.left_id in cells and c.right_id in cells
        ]
        merges = review.recent_merges(session, limit=RECENT_MERGES)
        pending = review.count_candidates(session)
    return render(
        request,
        "identity/review.html",
        {
            "title": "Identity review",
            "pairs": pairs,
            "pending": pending,
            "merges": merges,
            "page": page,
            "more": more,
            "reason": reason,
            "may_reveal": caller.principal.can(PII_REVEAL),
            "notice": NOTICES.get(done or ""),
            "problem": PROBLEMS.get(problem or ""),
            "csrf_token": caller.staff_session.csrf_token if caller.staff_session else "",
            "bar_range": BAR_RANGE,
        },
    )


def _after(action: str, run: Callable[[], None], back: str = REVIEW_PATH) -> RedirectResponse:
    """Run a decision; back to the page it came from with its notice, or with why it was
    refused (by code: the pages never echo text from their URL)."""
    try:
        run()
    except (Conflict, NotFound, InvalidInput) as exc:
        return RedirectResponse(f"{back}?problem={exc.code}", status_code=303)
    return RedirectResponse(f"{back}?done={action}", status_code=303)


@router.post("/identity/candidates/{candidate_id}/merge", name="console_candidate_merge")
def merge_candidate(
    candidate_id: RowId, caller: Review, store: StoreDep, reason: ReasonField
) -> RedirectResponse:
    """Merge a candidate's two profiles, then back to the queue."""

    def run() -> None:
        with store.sessions.begin() as session:
            review.merge_candidate(
                session, store, candidate_id=candidate_id, principal=caller.principal, reason=reason
            )

    return _after("merged", run)


@router.post("/identity/candidates/{candidate_id}/reject", name="console_candidate_reject")
def reject_candidate(
    candidate_id: RowId, caller: Review, store: StoreDep, reason: ReasonField
) -> RedirectResponse:
    """Reject a candidate, then back to the queue."""

    def run() -> None:
        with store.sessions.begin() as session:
            review.reject_candidate(
                session, candidate_id=candidate_id, principal=caller.principal, reason=reason
            )

    return _after("rejected", run)


@router.post("/identity/merges/{merge_id}/undo", name="console_merge_undo")
def undo_merge(
    merge_id: uuid.UUID,
    caller: Review,
    store: StoreDep,
    reason: ReasonField,
    back: Annotated[uuid.UUID | None, Form()] = None,
) -> RedirectResponse:
    """Un-merge, then back to the queue (or to the customer page ``back`` names)."""

    def run() -> None:
        with store.sessions.begin() as session:
            unmerge(session, store, merge_id=merge_id, principal=caller.principal, reason=reason)

    return _after("unmerged", run, f"{CONSOLE_PREFIX}/customers/{back}" if back else REVIEW_PATH)
