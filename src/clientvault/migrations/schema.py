"""The complete metadata of both databases, gathered from every domain's models."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from clientvault.domains import HOLDER_MODULES, MODEL_MODULES
from clientvault.privacy.holders.registry import Holder, registered_holders
from clientvault.store.base import Base
from clientvault.store.keystore import KeystoreBase

#: Every domain module whose tables live in the main database (``clientvault.domains``).
DOMAIN_MODELS = MODEL_MODULES

__all__ = ["DATA_METADATA", "DOMAIN_MODELS", "HOLDER_MODULES", "KEYSTORE_METADATA", "load_holders"]


def load_holders() -> list[Holder]:
    """Import every domain's personal-data holders (the composition point above the domains,
    since ``privacy`` may not import ``ingest``); the app, the CLI and the worker call it
    before export, erasure or retention purges. Idempotent."""
    for module in HOLDER_MODULES:
        importlib.import_module(module)
    return registered_holders()


DATA_METADATA: MetaData = Base.metadata
KEYSTORE_METADATA: MetaData = KeystoreBase.metadata
