"""An installation set up for generated requests (schemathesis): an administrator's token,
and no edge blocking (thousands of refused requests from one address would trip it)."""

from __future__ import annotations

from clientvault.security.permissions import BUILTIN_ROLES
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.staff import bearer_token, create_staff


def fuzzing_settings(settings: Settings) -> Settings:
    """``settings`` without intrusion prevention."""
    security = settings.security.model_copy(update={"intrusion_prevention": False})
    return settings.model_copy(update={"security": security})


def fuzzing_admin_token(store: Store, settings: Settings) -> str:
    """A one-day token with every permission of the admin role, for a new administrator."""
    with store.sessions.begin() as session:
        user = create_staff(session, settings, email="fuzz@example.com", role="admin").user
        user.must_change_password = False
        return bearer_token(session, settings, user, scopes=set(BUILTIN_ROLES["admin"]))
