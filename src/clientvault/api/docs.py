"""OpenAPI docs served from the Swagger UI assets that the installed swagger-ui-py package
ships: the machine may be offline, so FastAPI's default CDN-hosted Swagger UI would not load
(and the older swagger-ui-bundle package cannot read OpenAPI 3.1)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/api/docs"
OPENAPI_PATH = "/api/openapi.json"
_ASSETS = "/api/docs-assets"


def _swagger_assets() -> Path:
    # Found without importing swagger_ui, whose own integrations are not wanted here.
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def install_docs(app: FastAPI) -> None:
    """Mount Swagger UI's assets and the docs page."""
    app.mount(_ASSETS, StaticFiles(directory=_swagger_assets()), name="swagger-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_PATH,
            title="clientvault API",
            swagger_js_url=f"{_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_ASSETS}/favicon-32x32.png",
        )
