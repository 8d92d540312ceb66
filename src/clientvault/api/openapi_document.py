"""The OpenAPI document: made valid where routes describe their bodies by hand, and made to
say how to authenticate and what errors look like.

The tracking routes read their bodies themselves (Segment's limits, gzip) and describe them
with ``openapi_extra``: a JSON Schema made by pydantic, whose nested models sit in a local
``$defs`` and are referenced as ``#/$defs/...``. Inside an OpenAPI document such a reference
points at the document's root, where there is no ``$defs``, so tools skipped those bodies.
Here every local ``$defs`` is moved to ``components/schemas`` and the references (``$ref``
and discriminator mappings) follow.

Authentication is one dependency (``http.auth.Authorize``), not FastAPI's security classes,
so FastAPI declares no security scheme. ``declare_security`` adds them: an API token
(``Authorization: Bearer cvat_…``, what Swagger UI's Authorize button sends), the console's
session cookie with its CSRF header (what a signed-in browser uses), and the tracking API's
write key (HTTP Basic user). Every operation behind ``Authorize`` lists the first two; the
tracking operations the third. Every operation also documents the one error body
(``http.errors.ErrorBody``) on the statuses it can answer, in place of FastAPI's own
validation error model, which the API never sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI

from clientvault.http.auth import api_routes, authorize_permission
from clientvault.http.errors import ErrorBody
from clientvault.security.sessions import COOKIE_NAME

_LOCAL = "#/$defs/"
_COMPONENTS = "#/components/schemas/"


def install_openapi(app: FastAPI) -> None:
    """Have ``app`` serve its OpenAPI document with local definitions hoisted (made once)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = hoist_local_definitions(generate())
            app.openapi_schema = declare_security(document, app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def hoist_local_definitions(document: dict[str, Any]) -> dict[str, Any]:
    """Move every nested ``$defs`` into ``components/schemas`` and repoint its references.

    Raises ``ValueError`` if two different schemas would take the same component name.
    """
    components = document.setdefault("components", {}).setdefault("schemas", {})
    found: dict[str, Any] = {}
    _collect(document, found)
    for name, schema in found.items():
        if name in components and components[name] != schema:
            raise ValueError(f"two different schemas are named {name!r} in the OpenAPI document")
        components[name] = schema
    _repoint(document)
    return document


def _collect(node: Any, found: dict[str, Any]) -> None:
    if isinstance(node, dict):
        definitions = node.pop("$defs", None)
        for value in node.values():
            _collect(value, found)
        for name, schema in (definitions or {}).items():
            _collect(schema, found)
            if name in found and found[name] != schema:
                raise ValueError(f"two different schemas are named {name!r} in $defs")
            found[name] = schema
    elif isinstance(node, list):
        for item in node:
            _collect(item, found)


def _repoint(node: Any) -> Any:
    """``node`` with every local reference (``$ref`` and discriminator mappings) repointed."""
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = _repoint(value)
    elif isinstance(node, list):
        node[:] = [_repoint(item) for item in node]
    elif isinstance(node, str) and node.startswith(_LOCAL):
        return _COMPONENTS + node.removeprefix(_LOCAL)
    return node


#: The security schemes, by the names operations refer to them with.
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "apiToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (cvat_…), made in the console (Settings → API tokens, "
        "or My account) or with POST /api/v1/me/tokens.",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": COOKIE_NAME,
        "description": "A signed-in console session (POST /api/v1/auth/login, then /auth/mfa).",
    },
    "csrf": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",  # http.auth.CSRF_HEADER
        "description": "The session's CSRF token: required with the session cookie on every "
        "request that changes something.",
    },
    "writeKey": {
        "type": "http",
        "scheme": "basic",
        "description": "A tracking source's write key as the user name, no password.",
    },
}
_ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorBody"}
_ERRORS_OF_AUTHORISED = {
    "401": "Not signed in, or the token is unknown, expired or revoked.",
    "403": "The caller lacks the permission (or the CSRF token is missing or wrong).",
}
_NOT_FOUND = "No such object (or it is not visible to the caller)."
_INVALID = "The request is not valid: see ``details`` for what and where."
_TRACKING_PREFIX = "/v1/"
_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def declare_security(document: dict[str, Any], routes: Iterable[object]) -> dict[str, Any]:
    """Add the security schemes and the error responses to the document (see the module)."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    schemas = components.setdefault("schemas", {})
    error_schema = ErrorBody.model_json_schema(ref_template=_COMPONENTS + "{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorBody"] = error_schema
    authorised = {
        (route.path_format, method.lower())
        for route in api_routes(routes)
        if route.include_in_schema and authorize_permission(route.dependant) is not None
        for method in route.methods or ()
    }
    for path, item in document.get("paths", {}).items():
        for method in _HTTP_METHODS:
            operation = item.get(method)
            if operation is not None:
                _document_operation(operation, path, secured=(path, method) in authorised)
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and unused not in str(document["paths"]):
            del schemas[unused]
    return document


def _document_operation(operation: dict[str, Any], path: str, *, secured: bool) -> None:
    responses = operation.setdefault("responses", {})
    if secured:
        operation["security"] = [{"apiToken": []}, {"session": [], "csrf": []}]
        for status, description in _ERRORS_OF_AUTHORISED.items():
            responses.setdefault(status, _error(description))
    elif path.startswith(_TRACKING_PREFIX):
        operation["security"] = [{"writeKey": []}, {}]
    if "{" in path:
        responses.setdefault("404", _error(_NOT_FOUND))
    if operation.get("parameters") or operation.get("requestBody") or "422" in responses:
        responses["422"] = _error(_INVALID)


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
