"""Staff accounts for tests: create one, set up its TOTP, issue it a token, sign it in.

Every account is made through the real services (``create_user``, ``mfa``, ``issue_token``)
with the installation's own password hashing policy and the ``test`` system principal.
"""

from __future__ import annotations

import time

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from clientvault.security import mfa
from clientvault.security.accounts import NewUser, create_user
from clientvault.security.models import User
from clientvault.security.passwords import hasher_for
from clientvault.security.permissions import PERMISSIONS
from clientvault.security.principal import Principal
from clientvault.security.tokens import issue_token
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.store.keystore import Keystore

#: A password the policy accepts.
STRONG = "violet-harbour-tangent-quarry-47"


def create_staff(
    session: Session,
    settings: Settings,
    *,
    email: str,
    role: str,
    password: str | None = STRONG,
    display_name: str | None = None,
) -> NewUser:
    """A new account of ``role`` (a one-time password when ``password`` is None).

    ``display_name`` defaults to the e-mail's local part, title-cased."""
    return create_user(
        session,
        email=email,
        display_name=display_name or email.split("@")[0].title(),
        role=role,
        password=password,
        ph=hasher_for(settings.security),
        by=Principal.system("test"),
    )


def add_staff(
    store: Store,
    settings: Settings,
    *,
    email: str,
    role: str,
    password: str | None = STRONG,
    display_name: str | None = None,
) -> NewUser:
    """``create_staff`` in a transaction of its own on ``store``, committed on return."""
    with store.sessions.begin() as session:
        return create_staff(
            session,
            settings,
            email=email,
            role=role,
            password=password,
            display_name=display_name,
        )


def enrol_totp(session: Session, keystore: Keystore, user: User) -> str:
    """Set up ``user``'s TOTP through the services; returns the secret (no code used yet)."""
    secret = mfa.begin_enrolment(session, keystore, user=user).secret
    code = pyotp.TOTP(secret).at(time.time() - 30)  # the previous step: "now" stays unused
    mfa.confirm_enrolment(session, keystore, user=user, code=code)
    return secret


def bearer_token(
    session: Session,
    settings: Settings,
    user: User,
    *,
    name: str = "t",
    scopes: set[str] | None = None,
) -> str:
    """The secret of a new one-day API token of ``user`` (every permission unless ``scopes``)."""
    return issue_token(
        session,
        user=user,
        name=name,
        scopes=set(PERMISSIONS) if scopes is None else scopes,
        days=1,
        policy=settings.security,
    ).secret


def api_sign_in(client: TestClient, email: str, password: str = STRONG) -> dict[str, str]:
    """Sign in through ``POST /api/v1/auth/login``; returns the CSRF header for later writes."""
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"x-csrf-token": response.json()["csrf_token"]}


def bearer_headers(store: Store, settings: Settings, role: str) -> dict[str, str]:
    """The Authorization header of a new staff member of ``role`` (``ROLE@example.com``, no
    password change pending) holding an API token with every permission of the role."""
    with store.sessions.begin() as session:
        user = create_staff(
            session, settings, email=f"{role}@example.com", role=role, display_name=role
        ).user
        user.must_change_password = False
        return {"authorization": f"Bearer {bearer_token(session, settings, user)}"}
