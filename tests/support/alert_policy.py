"""Alert policies for tests that write audit entries at the wall clock's hour."""

from __future__ import annotations

from clientvault.settings import SecuritySettings


def at_any_hour(policy: SecuritySettings) -> SecuritySettings:
    """``policy`` with working hours around the clock: entries written at whatever hour the
    tests run must not raise an ``unusual_hours`` alert (the default hours are 6 to 22)."""
    return policy.model_copy(update={"alert_working_hours": (0, 0)})
