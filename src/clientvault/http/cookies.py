"""The cookies of a browser session and of the sign-in form, and the client's address.

The session cookie is set by the sign-in steps of both faces (the console's pages and the
API's ``/api/v1/auth``); the sign-in form's cookie carries its CSRF token before any session
exists (double submit).
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response

from clientvault.security.sessions import COOKIE_NAME
from clientvault.settings import Settings

#: The cookie that carries the sign-in form's CSRF token (double submit: no session yet).
LOGIN_CSRF_COOKIE = "__Host-cv_login"
LOGIN_CSRF_MAX_AGE = 3600


def client_network(request: Request) -> str | None:
    """The client address a request came from (for throttling and the audit log)."""
    return request.client.host if request.client else None


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    """Give the browser its session cookie: ``__Host-``, Secure, HttpOnly, SameSite=Strict."""
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=settings.security.session_absolute_hours * 3600,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response) -> None:
    """Remove the session cookie from the browser."""
    response.delete_cookie(COOKIE_NAME, path="/", secure=True, httponly=True, samesite="strict")


def new_login_csrf() -> str:
    """A fresh token for the sign-in form (compared with its cookie on submission)."""
    return secrets.token_urlsafe(32)


def set_login_csrf_cookie(response: Response, token: str) -> None:
    """Store the sign-in form's token in a short-lived ``__Host-`` cookie.

    There is no session yet to hold a CSRF token, so the form's token is checked against this
    cookie ("double submit"). SameSite=Strict keeps another site's form from sending it, which
    stops a login CSRF (signing a victim in to the attacker's account).
    """
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=LOGIN_CSRF_MAX_AGE,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


def clear_login_csrf_cookie(response: Response) -> None:
    """Remove the sign-in form's cookie once the sign-in succeeded."""
    response.delete_cookie(
        LOGIN_CSRF_COOKIE, path="/", secure=True, httponly=True, samesite="strict"
    )


def login_csrf_valid(request: Request, submitted: str | None) -> bool:
    """Whether the sign-in form's token matches its cookie (constant-time comparison)."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(expected and submitted) and hmac.compare_digest(str(expected), str(submitted))
