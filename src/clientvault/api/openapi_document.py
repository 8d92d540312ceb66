"""The OpenAPI document, made valid where routes describe their bodies by hand.

The tracking routes read their bodies themselves (Segment's limits, gzip) and describe them
with ``openapi_extra``: a JSON Schema made by pydantic, whose nested models sit in a local
``$defs`` and are referenced as ``#/$defs/...``. Inside an OpenAPI document such a reference
points at the document's root, where there is no ``$defs``, so tools skipped those bodies.
Here every local ``$defs`` is moved to ``components/schemas`` and the references (``$ref``
and discriminator mappings) follow.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

_LOCAL = "#/$defs/"
_COMPONENTS = "#/components/schemas/"


def install_openapi(app: FastAPI) -> None:
    """Have ``app`` serve its OpenAPI document with local definitions hoisted (made once)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = hoist_local_definitions(generate())
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
