"""Mounting the API: its documentation, its OpenAPI document and each domain's routes."""

from __future__ import annotations

from fastapi import FastAPI

from clientvault.api.docs import install_docs
from clientvault.api.openapi_document import install_openapi
from clientvault.api.routes import (
    alerts,
    audit_log,
    auth,
    customers,
    health,
    identity,
    imports,
    jobs,
    privacy_core,
    privacy_requests,
    snippet,
    staff,
    tracking,
)

#: Each domain's API routes; a new ``api/routes/<domain>.py`` adds its router here.
ROUTERS = (
    health.router,
    tracking.router,
    imports.router,
    snippet.router,
    auth.router,
    staff.router,
    audit_log.router,
    alerts.router,
    customers.router,
    privacy_requests.router,
    privacy_core.router,
    identity.router,
    jobs.router,
)


def install_api(app: FastAPI) -> None:
    """Serve the API's documentation, its OpenAPI document and its routes on ``app``."""
    install_docs(app)
    install_openapi(app)
    for router in ROUTERS:
        app.include_router(router)
