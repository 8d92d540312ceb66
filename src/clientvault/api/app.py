"""The application factory: one FastAPI app serving the API, the console and its assets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from clientvault.api.docs import OPENAPI_PATH, install_docs
from clientvault.api.errors import install_error_handlers
from clientvault.api.routes import health, tracking
from clientvault.settings import Settings, get_settings
from clientvault.store.context import Store, open_store
from clientvault.web.console import install_console


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    """Build the app for these settings; with ``store`` given, use it and leave it open."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.store = store if store is not None else open_store(settings)
        try:
            yield
        finally:
            if owned:
                app.state.store.close()

    app = FastAPI(
        title="clientvault",
        summary="A privacy-first customer data platform.",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_PATH,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_docs(app)
    app.include_router(health.router)
    app.include_router(tracking.router)
    install_console(app)
    return app
