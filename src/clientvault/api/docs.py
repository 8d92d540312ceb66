"""OpenAPI docs served from the installed swagger-ui-bundle package: the machine may be
offline, so FastAPI's default CDN-hosted Swagger UI would not load."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/api/docs"
OPENAPI_PATH = "/api/openapi.json"
_ASSETS = "/api/docs-assets"


def install_docs(app: FastAPI) -> None:
    """Mount Swagger UI's assets and the docs page."""
    app.mount(_ASSETS, StaticFiles(directory=swagger_ui_path), name="swagger-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_PATH,
            title="clientvault API",
            swagger_js_url=f"{_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_ASSETS}/favicon-32x32.png",
        )
