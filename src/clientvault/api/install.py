"""Mounting the API: its documentation, its OpenAPI document, its health check and each
domain's routes."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from clientvault.api.docs import install_docs
from clientvault.api.openapi_document import install_openapi
from clientvault.api.routes import (
    alerts,
    analytics,
    audit_log,
    auth,
    backup,
    customers,
    health,
    identity,
    imports,
    jobs,
    journeys,
    personalize,
    predict,
    privacy_core,
    privacy_requests,
    segments,
    snippet,
    staff,
    support,
    tracking,
)
from clientvault.api.routes import settings as settings_api
from clientvault.domains import for_domains

#: Each domain's API routes, keyed by its name in ``clientvault.domains`` and mounted in this
#: order; a domain with an API adds one line here for its ``api/routes/<domain>.py``.
ROUTERS: dict[str, tuple[APIRouter, ...]] = {
    "ingest": (tracking.router, imports.router, snippet.router),
    "security": (auth.router, staff.router, audit_log.router, alerts.router, settings_api.router),
    "customers": (customers.router,),
    "privacy": (privacy_requests.router, privacy_core.router),
    "identity": (identity.router,),
    "automation": (
        jobs.router,
        journeys.router,
        journeys.tracking,
        personalize.router,
        personalize.public,
    ),
    "support": (support.router, support.chat_router),
    "segments": (segments.router, segments.customer_router),
    "analytics": (analytics.router, analytics.public),
    "backup": (backup.router,),
    "predict": (predict.router,),
}


def install_api(app: FastAPI) -> None:
    """Serve the API's documentation, its OpenAPI document and its routes on ``app``."""
    install_docs(app)
    install_openapi(app)
    app.include_router(health.router)  # the platform's own, no domain's
    for routers in for_domains(ROUTERS):
        for router in routers:
            app.include_router(router)
