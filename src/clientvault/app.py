"""The composition root: one FastAPI app serving the API, the console and its assets, and the
``clientvault`` command that serves it.

The only module above the faces: ``api``, ``web`` and ``cli`` never import each other (the
import-linter contract in pyproject.toml); what the two HTTP faces share is ``http``. The CLI
is handed ``create_app`` by ``main`` to run ``serve``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from clientvault.api.docs import OPENAPI_PATH
from clientvault.api.install import install_api
from clientvault.api.routes import tracking
from clientvault.cli.app import run_cli
from clientvault.domains import build_worker
from clientvault.http.errors import install_error_handlers
from clientvault.http.headers import SecurityHeaders
from clientvault.http.intrusion import install_intrusion_prevention
from clientvault.http.params import refuse_nul_characters
from clientvault.ingest.writer import IngestWriter
from clientvault.migrations.schema import load_holders
from clientvault.settings import Settings, get_settings
from clientvault.store.context import Store, open_store
from clientvault.web.console import CONSOLE_ERROR_PAGES, install_console


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    run_consumers: bool | None = None,
    ingest_writer: bool | None = None,
) -> FastAPI:
    """Build the app for these settings; with ``store`` given, use it and leave it open.

    The event-log consumers run in-process unless ``run_consumers`` (default: the
    ``server.run_consumers`` setting, and off when a store is handed in) says otherwise.
    Tracking calls are stored by a writer process when ``ingest_writer`` (same default, from
    ``server.ingest_writer_process``) says so, else in the server's worker threads.
    """
    settings = settings or get_settings()
    load_holders()  # every domain's personal-data holders, for export, erasure and retention
    if run_consumers is None:
        run_consumers = store is None and settings.server.run_consumers
    if ingest_writer is None:
        ingest_writer = store is None and settings.server.ingest_writer_process

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        # With a writer process, its store checkpoints the WAL (SQLite) for the whole server:
        # a second checkpointer here only raced it, for ~12 % of this process's CPU per
        # tracking event (``bench/bench_ingest.py``). Should the writer be down, the
        # connections' fallback automatic checkpoint still bounds the log.
        app.state.store = (
            store if store is not None else open_store(settings, checkpoint_wal=not ingest_writer)
        )
        worker = build_worker(app.state.store, settings) if run_consumers else None
        writer = IngestWriter(settings) if ingest_writer else None
        app.state.ingest_writer = writer
        app.state.store_tracking = tracking.storing(app.state.store, settings, writer)
        if writer is not None:
            writer.start()  # fails here, at start-up, if the writer cannot open the store
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            if writer is not None:
                writer.close()
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
        dependencies=[Depends(refuse_nul_characters)],
    )
    app.state.settings = settings
    install_error_handlers(app, pages=CONSOLE_ERROR_PAGES)
    install_api(app)
    install_console(app)
    install_intrusion_prevention(app, settings.security)
    # Added last, so outermost: every answer (the intrusion guard's refusals too) gets the
    # headers, and bodies are limited before any other middleware reads them.
    app.add_middleware(SecurityHeaders)
    return app


def main() -> None:
    """Console-script entry point: the CLI, serving the app built here."""
    run_cli(build_app=create_app)
