"""The faces (API routes, console routes, CLI commands) parse, call a domain service and
render: no query and no audit entry is written in them.

Read from the source with ``ast`` (nothing is imported): a face may import
``sqlalchemy.orm.Session`` to type the session it hands to a service, and nothing else from
SQLAlchemy; it never calls ``execute``, ``scalar``, ``scalars``, ``get``, ``add``, ``delete``
or ``flush`` on a session, nor ``audit.record``. Queries belong to the domain that owns the
tables, where both faces share them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import clientvault

PACKAGE = Path(clientvault.__file__).parent
FACES = ("api/routes", "web/routes", "cli")
#: What a face may import from SQLAlchemy: the session's type, to annotate it.
ALLOWED_SQLALCHEMY = {("sqlalchemy.orm", "Session")}
#: Session methods that read or write rows.
SESSION_QUERIES = {"execute", "scalar", "scalars", "get", "query", "add", "add_all", "delete"}
SESSION_QUERIES |= {"merge", "flush", "bulk_save_objects"}


def face_modules() -> list[Path]:
    """Every module of the three faces."""
    return sorted(path for face in FACES for path in (PACKAGE / face).rglob("*.py"))


def _is_session(node: ast.expr) -> bool:
    """Whether an expression names a database session (``session``, ``read_session``, …)."""
    name = (
        node.id
        if isinstance(node, ast.Name)
        else node.attr
        if isinstance(node, ast.Attribute)
        else ""
    )
    return name == "session" or name.endswith("_session")


def violations(source: str) -> list[str]:
    """What a face's source does that belongs to a service, one line each."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.split(".")[0] == "sqlalchemy"
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            found += [
                f"line {node.lineno}: from {node.module} import {alias.name}"
                for alias in node.names
                if (node.module, alias.name) not in ALLOWED_SQLALCHEMY
            ]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method, receiver = node.func.attr, node.func.value
            if method in SESSION_QUERIES and _is_session(receiver):
                found.append(f"line {node.lineno}: session.{method}(...)")
            if method == "record" and isinstance(receiver, ast.Name) and receiver.id == "audit":
                found.append(f"line {node.lineno}: audit.record(...)")
    return found


@pytest.mark.parametrize("path", face_modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_face_leaves_queries_and_audit_to_services(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8")) == []


def test_the_check_sees_what_it_forbids() -> None:
    """The inspection is not vacuous: it names each forbidden form and lets the allowed ones by."""
    source = """
from sqlalchemy import func, select
from sqlalchemy.orm import Session
import sqlalchemy
def route(session: Session, store):
    session.execute(select(1))
    store.read_session.get(Model, 1)
    audit.record(session, action="x")
    settings.get("x")
"""
    assert violations(source) == [
        "line 2: from sqlalchemy import func",
        "line 2: from sqlalchemy import select",
        "line 4: import sqlalchemy",
        "line 6: session.execute(...)",
        "line 7: session.get(...)",
        "line 8: audit.record(...)",
    ]


def test_every_face_is_inspected() -> None:
    """The three faces are found where the test looks for them."""
    names = {str(path.relative_to(PACKAGE)) for path in face_modules()}
    assert {"api/routes/audit_log.py", "web/routes/audit.py", "cli/audit.py"} <= names
