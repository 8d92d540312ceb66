"""The complete metadata of both databases, gathered from every domain's models."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from clientvault.automation import models as automation_models
from clientvault.identity import models as identity_models
from clientvault.identity.matching import models as identity_matching_models
from clientvault.ingest import models as ingest_models
from clientvault.ingest.commerce import models as commerce_models
from clientvault.messaging import models as messaging_models
from clientvault.privacy import models as privacy_models
from clientvault.privacy.holders.registry import Holder, registered_holders
from clientvault.privacy.requests import models as privacy_request_models
from clientvault.security import models as security_models
from clientvault.store.base import Base
from clientvault.store.keystore import KeystoreBase

#: Every domain module whose tables live in the main database.
DOMAIN_MODELS = (
    security_models,
    identity_models,
    identity_matching_models,
    privacy_models,
    privacy_request_models,
    messaging_models,
    ingest_models,
    commerce_models,
    automation_models,
)

#: Every module registering personal-data holders (``privacy.holders``) on import.
HOLDER_MODULES = (
    "clientvault.privacy.holders.core",
    "clientvault.privacy.holders.requests",
    "clientvault.privacy.holders.identity",
    "clientvault.ingest.holders",
)


def load_holders() -> list[Holder]:
    """Import every domain's personal-data holders (the composition point above the domains,
    since ``privacy`` may not import ``ingest``); the app, the CLI and the worker call it
    before export, erasure or retention purges. Idempotent."""
    for module in HOLDER_MODULES:
        importlib.import_module(module)
    return registered_holders()


DATA_METADATA: MetaData = Base.metadata
KEYSTORE_METADATA: MetaData = KeystoreBase.metadata
