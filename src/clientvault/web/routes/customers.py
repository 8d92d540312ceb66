"""The customer list (``/console/customers``, ``customers:read``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from clientvault.customers.search import find_customers
from clientvault.errors import ClientVaultError
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.security.principal import PII_REVEAL
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)
ReadCustomers = Annotated[Caller, Depends(Authorize("customers:read"))]


@router.get("/customers", response_class=HTMLResponse, name="console_customers")
def customers_page(
    request: Request,
    caller: ReadCustomers,
    store: StoreDep,
    settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=254)] = None,
) -> Response:
    """The newest customers, or those matching an id (or, with pii:reveal, an exact e-mail
    address or phone number)."""
    problem = None
    with store.read_sessions() as session, session.begin():
        try:
            people = find_customers(
                session,
                store,
                query=q,
                viewer=caller.principal,
                default_region=settings.default_phone_region,
            )
        except ClientVaultError as exc:
            people, problem = [], exc.message
    return render(
        request,
        "identity/customers.html",
        {
            "title": "Customers",
            "people": people,
            "q": q or "",
            "problem": problem,
            "may_reveal": caller.principal.can(PII_REVEAL),
        },
    )
