"""The one error tree every service raises from.

Services raise only these; ``http/errors.py``, the console and the CLI each map them once to a
status code, a page or an exit code. A message never contains personal data: it names ids,
fields and reasons, not values::

    ClientVaultError (code, message)
    ├── NotFound            the thing asked for does not exist (or is erased)      → 404
    ├── Erased              a customer still on file whose data key is destroyed  → 410
    ├── Conflict            it exists already / the state forbids the change       → 409
    ├── PermissionDenied    the principal may not do this                          → 403
    ├── ConsentRequired     no legal basis for this purpose                        → 451
    ├── InvalidInput        the input breaks a rule; ``details`` says which field  → 422
    ├── Unauthenticated     no valid credentials (same answer whatever was wrong)  → 401
    ├── RateLimited         too many failures; ``details["retry_after"]`` seconds  → 429
    ├── Unavailable         a part of the service is down for now; retry           → 503
    └── ConfigurationError  the installation is not set up (missing key file…)     → 500 / exit 2
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class ClientVaultError(Exception):
    """Root of every error a clientvault service raises on purpose."""

    default_code: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class NotFound(ClientVaultError):
    """The requested object does not exist, or no longer exists for this caller."""

    default_code = "not_found"


class Erased(ClientVaultError):
    """The customer was erased: their data key is destroyed, so nothing sealed of theirs can
    be read again (seen when a database restored from before the erasure still has the row)."""

    default_code = "erased"


class Conflict(ClientVaultError):
    """The object exists already, or its current state forbids the change."""

    default_code = "conflict"


class PermissionDenied(ClientVaultError):
    """The acting principal lacks the permission this action needs."""

    default_code = "permission_denied"


class ConsentRequired(ClientVaultError):
    """The processing has no legal basis (consent or other) for this customer and purpose."""

    default_code = "consent_required"


class InvalidInput(ClientVaultError):
    """The input breaks a validation rule; ``details`` names the offending fields."""

    default_code = "invalid_input"


class Unauthenticated(ClientVaultError):
    """No valid credentials; deliberately says nothing about which part was wrong."""

    default_code = "unauthenticated"


class RateLimited(ClientVaultError):
    """Too many recent failures from this account or network; try again later."""

    default_code = "rate_limited"


class Unavailable(ClientVaultError):
    """A part of the service (the ingest writer…) cannot do the work right now; retry."""

    default_code = "unavailable"


class ConfigurationError(ClientVaultError):
    """The installation is not usable as configured (missing key file, wrong URL…)."""

    default_code = "configuration_error"


def validated(model: type[Model], document: object, *, what: str) -> Model:
    """``document`` checked against ``model``, or ``InvalidInput`` naming the path of its
    first faulty field (``variants.0.when.score: …``; ``what`` when the whole document is
    wrong), so the API's 422 and the CLI's message point at the field to fix."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        path = ".".join(str(part) for part in first["loc"]) or what
        raise InvalidInput(f"{path}: {first['msg']}", details={"field": path}) from None
