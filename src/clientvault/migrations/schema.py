"""The complete metadata of both databases, gathered from every domain's models."""

from __future__ import annotations

from sqlalchemy import MetaData

from clientvault.identity import matching_models as identity_matching_models
from clientvault.identity import models as identity_models
from clientvault.ingest import models as ingest_models
from clientvault.privacy import models as privacy_models
from clientvault.security import models as security_models
from clientvault.store.base import Base
from clientvault.store.keystore import KeystoreBase

#: Every domain module whose tables live in the main database.
DOMAIN_MODELS = (
    security_models,
    identity_models,
    identity_matching_models,
    privacy_models,
    ingest_models,
)

DATA_METADATA: MetaData = Base.metadata
KEYSTORE_METADATA: MetaData = KeystoreBase.metadata
