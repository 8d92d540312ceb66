"""The customer list (``/console/customers``, ``customers:read``): filters, sortable columns,
search and keyset pages, all read by ``customers.search.list_customers``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from clientvault.customers.search import CustomerListQuery, CustomerPage, list_customers
from clientvault.errors import ClientVaultError
from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep, StoreDep
from clientvault.privacy.purposes import list_purposes
from clientvault.security.principal import PII_REVEAL
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)
ReadCustomers = Annotated[Caller, Depends(Authorize("customers:read"))]

#: The list's columns a header link sorts by, with their labels.
SORTABLE = {
    "created": "Created",
    "last_seen": "Last seen",
    "orders": "Orders",
    "revenue": "Revenue",
    "country": "Country",
    "city": "City",
}
#: Query parameters the page reads (anything else in the URL is ignored).
PARAMETERS = tuple(CustomerListQuery.model_fields)


def read_query(request: Request) -> tuple[CustomerListQuery, str | None]:
    """The list query a URL asks for, or the default one and why the URL's was refused.

    Read by hand rather than by FastAPI so that a wrong value (a date typed by hand) shows
    the page with a message instead of a JSON 422. Empty fields of the filter form are unset.
    """
    given = {
        name: value
        for name, value in request.query_params.items()
        if name in PARAMETERS and value.strip()
    }
    try:
        return CustomerListQuery.model_validate(given), None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        return CustomerListQuery(), f"The filters were not applied ({problems})."


@router.get("/customers", response_class=HTMLResponse, name="console_customers")
def customers_page(
    request: Request, caller: ReadCustomers, store: StoreDep, settings: SettingsDep
) -> Response:
    """A page of customers: filtered, sorted, searched by id, user or external id (and, with
    pii:reveal, e-mail, phone or full name), one keyset page at a time."""
    query, problem = read_query(request)
    page = CustomerPage(items=[], next_cursor=None, matched_by=[])
    with store.read_sessions() as session, session.begin():
        purposes = [purpose.code for purpose in list_purposes(session)]
        if problem is None:
            try:
                page = list_customers(
                    session,
                    store,
                    query=query,
                    viewer=caller.principal,
                    default_region=settings.default_phone_region,
                )
            except ClientVaultError as exc:
                problem = exc.message
    kept = query.model_dump(exclude={"cursor", "limit"}, exclude_defaults=True)
    return render(
        request,
        "customers/list.html",
        {
            "title": "Customers",
            "page": page,
            "query": query,
            "kept": _as_text(kept),
            "filtered": bool(set(kept) - {"sort", "direction"}),
            "sortable": SORTABLE,
            "purposes": purposes,
            "problem": problem,
            "may_reveal": caller.principal.can(PII_REVEAL),
        },
    )


def _as_text(values: dict[str, Any]) -> dict[str, str]:
    """Query values as they go back into links (booleans as ``true``/``false``)."""
    return {
        name: (str(value).lower() if isinstance(value, bool) else str(value))
        for name, value in values.items()
    }
