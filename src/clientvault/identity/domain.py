"""The identity domain: customers' profiles, their identities and the matching of duplicates.

Its personal-data holders are declared in ``privacy.identity_holders`` (``privacy``'s holder
registry sits above ``identity``), so the privacy domain names them.
"""

from __future__ import annotations

from clientvault.identity import models
from clientvault.identity.matching import models as matching_models
from clientvault.store.domain import Domain

DOMAIN = Domain(
    name="identity",
    models=(models, matching_models),
    settings="identity",
)
