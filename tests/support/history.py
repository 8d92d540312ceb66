"""Historic data as a business imports it: events dated years ago, for the retention tests."""

from __future__ import annotations

from typing import Any


def dated_track(user_id: str, event: str, at: str, **properties: Any) -> dict[str, Any]:
    """A track call carrying its own (ISO 8601) date, as an export of past activity has."""
    return {
        "type": "track",
        "userId": user_id,
        "event": event,
        "timestamp": at,
        "properties": properties,
    }


def dated_order(user_id: str, order_id: str, at: str, total: float) -> dict[str, Any]:
    """An ``Order Completed`` call placed at ``at`` (its order date), in euros."""
    return dated_track(
        user_id, "Order Completed", at, order_id=order_id, total=total, currency="EUR"
    )
