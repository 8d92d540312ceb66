"""The permission catalogue and the built-in roles.

Every API route and console page names one permission (checked by one dependency), so what a
role may do is read here and nowhere else. Custom roles are any subset of the catalogue.
"""

from __future__ import annotations

from types import MappingProxyType

PERMISSIONS: MappingProxyType[str, str] = MappingProxyType(
    {
        "customers:read": "see profiles with identifiers masked (pseudonymised)",
        "customers:write": "create and change profiles, import customers",
        "pii:reveal": "see one customer's decrypted identifiers when opening them",
        "pii:export": "export identifiers in bulk",
        "identity:review": "review, merge and un-merge candidate duplicates",
        "segments:manage": "build and change segments",
        "campaigns:manage": "build campaigns and workflows, send messages",
        "analytics:read": "dashboards, cohorts, funnels, A/B results",
        "dp:query": "run differentially private studies within a budget",
        "privacy:manage": "consents, data-subject requests, records, breaches",
        "sources:manage": "tracking sources, write keys and imports",
        "audit:read": "read and verify the audit log",
        "alerts:read": "see access alerts and their evidence",
        "users:manage": "create, disable and reset staff accounts",
        "roles:manage": "define roles and assign them",
        "keys:manage": "rotate encryption keys, manage backups",
        "settings:manage": "change installation settings",
        "tokens:create": "create API tokens with a token (only narrower ones, expiring no later)",
        "support:handle": "answer support tickets, manage agents and the knowledge base",
    }
)

_ALL = frozenset(PERMISSIONS)

BUILTIN_ROLES: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "admin": _ALL - {"dp:query"},
        "dpo": frozenset(
            {
                "customers:read",
                "pii:reveal",
                "pii:export",
                "privacy:manage",
                "audit:read",
                "alerts:read",
                "analytics:read",
            }
        ),
        "marketer": frozenset(
            {"customers:read", "segments:manage", "campaigns:manage", "analytics:read"}
        ),
        "analyst": frozenset({"customers:read", "analytics:read", "dp:query"}),
        "support": frozenset({"customers:read", "pii:reveal", "identity:review", "support:handle"}),
    }
)

#: Roles whose members must use MFA whatever the installation's setting says.
MFA_REQUIRED_ROLES = frozenset({"admin", "dpo"})


def unknown_permissions(permissions: set[str] | frozenset[str]) -> set[str]:
    """The names in ``permissions`` that are not in the catalogue."""
    return set(permissions) - _ALL
