"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from clientvault.http.deps import ReadSessionDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(session: ReadSessionDep) -> dict[str, str]:
    """Report that the server answers and its database is reachable."""
    session.execute(text("SELECT 1"))
    return {"status": "ok"}
