"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from clientvault.http.deps import ReadSessionDep
from clientvault.store.engine import ping

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(session: ReadSessionDep) -> dict[str, str]:
    """Report that the server answers and its database is reachable."""
    ping(session)
    return {"status": "ok"}
