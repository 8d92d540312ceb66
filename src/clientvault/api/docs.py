"""OpenAPI docs served from the Swagger UI assets that the installed swagger-ui-py package
ships: the machine may be offline, so FastAPI's default CDN-hosted Swagger UI would not load
(and the older swagger-ui-bundle package cannot read OpenAPI 3.1).

The page is our own rather than FastAPI's ``get_swagger_ui_html``, which starts Swagger UI
with an inline script: the Content-Security-Policy (``http/headers.py``) allows scripts from
this server only, so the start-up code is ``static/docs/clientvault-docs.js``, served beside
Swagger UI's files, and reads the OpenAPI URL from a data attribute.
"""

from __future__ import annotations

import importlib.util
from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/api/docs"
OPENAPI_PATH = "/api/openapi.json"
ASSETS_PATH = "/api/docs-assets"
#: Our start-up script, looked up after Swagger UI's own files under the same mount.
INIT_SCRIPT = "clientvault-docs.js"
_TITLE = "clientvault API"


def _swagger_assets() -> Path:
    # Found without importing swagger_ui, whose own integrations are not wanted here.
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def docs_page() -> str:
    """The docs page: Swagger UI's bundle and our start-up script, no inline code."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(_TITLE)}</title>
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(OPENAPI_PATH)}"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="{ASSETS_PATH}/{INIT_SCRIPT}"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Mount Swagger UI's assets (plus our start-up script) and the docs page."""
    assets = StaticFiles(directory=_swagger_assets(), packages=[("clientvault.api", "static/docs")])
    app.mount(ASSETS_PATH, assets, name="swagger-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(docs_page())
