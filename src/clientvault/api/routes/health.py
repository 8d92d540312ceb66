"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from clientvault.http.deps import StoreDep
from clientvault.store.engine import ping

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(store: StoreDep) -> dict[str, str]:
    """Report that the server answers and its database is reachable."""
    with store.read_sessions() as session:
        ping(session)
    return {"status": "ok"}
