"""The console's side of signing in: its sign-in pages, where a browser goes after each step
(``destination``) and the ``next`` page it came for, checked so that it cannot redirect away.

The steps themselves (password, second factor, enrolment, password change, sign-out) are
``security.signin``; the cookies they set are ``http.cookies``. The pages are
``web/routes/signin.py``.
"""

from __future__ import annotations

import math
from urllib.parse import quote, urlsplit

from clientvault.errors import RateLimited
from clientvault.security.signin import NextStep
from clientvault.web.navigation import CONSOLE_PREFIX

#: The console's sign-in pages (kept here so that redirects and pages agree).
LOGIN_PATH = f"{CONSOLE_PREFIX}/login"
MFA_CHALLENGE_PATH = f"{CONSOLE_PREFIX}/login/mfa"
MFA_ENROL_PATH = f"{CONSOLE_PREFIX}/account/mfa"
PASSWORD_PATH = f"{CONSOLE_PREFIX}/account/password"
LOGOUT_PATH = f"{CONSOLE_PREFIX}/logout"
#: Pages a ``next`` parameter must not point to (they would loop back into the sign-in).
_NOT_NEXT = (LOGIN_PATH, LOGOUT_PATH)


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a console page of this site to go to after signing in, else ``None``.

    Only a local path under ``/console`` passes: no scheme, no host, no ``//`` or backslash
    (which browsers read as a host), no ``..`` segment, no control character, and not the
    sign-in or sign-out page. Everything else is ignored, so ``next`` cannot send a freshly
    signed-in user to another site (an open redirect).
    """
    if not value or len(value) > 2000:
        return None
    if any(ord(char) < 0x20 or char in "\\\x7f" for char in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.fragment or "//" in parts.path:
        return None
    path = parts.path
    if not (path == CONSOLE_PREFIX or path.startswith(f"{CONSOLE_PREFIX}/")):
        return None
    if ".." in path.split("/") or any(path.startswith(page) for page in _NOT_NEXT):
        return None
    return value


def with_next(path: str, next_path: str | None) -> str:
    """``path`` carrying a (validated) ``next`` parameter along the sign-in steps."""
    safe = safe_next(next_path)
    return f"{path}?next={quote(safe, safe='/')}" if safe else path


def login_url(next_path: str | None) -> str:
    """The sign-in page, returning to ``next_path`` afterwards when it is a safe local page."""
    return with_next(LOGIN_PATH, next_path)


def destination(step: NextStep, next_path: str | None) -> str:
    """The page a browser goes to after a sign-in step: the next step, or where it was going."""
    if step.mfa_pending:
        return with_next(MFA_ENROL_PATH if step.needs_enrolment else MFA_CHALLENGE_PATH, next_path)
    if step.must_change_password:
        return with_next(PASSWORD_PATH, next_path)
    return safe_next(next_path) or CONSOLE_PREFIX


def retry_minutes(error: RateLimited) -> int:
    """Whole minutes until a locked account or network may try again (at least one)."""
    seconds = int(error.details.get("retry_after", 60))
    return max(1, math.ceil(seconds / 60))
