"""Every domain of the installation, in one list: ``DOMAINS``.

Adding a domain is its folder (with its ``domain.py``), one line here and its migration; see
``docs/architecture.md``. What the rest of the platform needs from the domains is gathered
here from their descriptions: migrations' model modules, the personal-data holder modules,
the event-log consumers the worker runs and the scheduled jobs. The faces keep their own
registries keyed by domain name and read them through ``for_domains``.

This module sits above every domain it lists (``automation`` included) and below
``migrations`` and the faces, which read it; ``build_worker`` hands ``automation``'s worker
every domain's consumers and jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import TypeVar

from clientvault.analytics.domain import DOMAIN as ANALYTICS
from clientvault.automation.domain import DOMAIN as AUTOMATION
from clientvault.automation.worker import Worker
from clientvault.backup.domain import DOMAIN as BACKUP
from clientvault.customers.domain import DOMAIN as CUSTOMERS
from clientvault.errors import ConfigurationError
from clientvault.identity.domain import DOMAIN as IDENTITY
from clientvault.ingest.consumers import Consumer
from clientvault.ingest.domain import DOMAIN as INGEST
from clientvault.messaging.domain import DOMAIN as MESSAGING
from clientvault.predict.domain import DOMAIN as PREDICT
from clientvault.privacy.domain import DOMAIN as PRIVACY
from clientvault.security.domain import DOMAIN as SECURITY
from clientvault.segments.domain import DOMAIN as SEGMENTS
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.store.domain import Domain
from clientvault.store.schedule import ScheduledJob
from clientvault.support.domain import DOMAIN as SUPPORT

#: Every domain, lower layers first: holders register, consumers and jobs run in this order.
DOMAINS: tuple[Domain, ...] = (
    SECURITY,
    IDENTITY,
    MESSAGING,
    PRIVACY,
    INGEST,
    CUSTOMERS,
    SUPPORT,
    SEGMENTS,
    ANALYTICS,
    PREDICT,
    AUTOMATION,
    BACKUP,
)

T = TypeVar("T")


def consumers_of(domains: Iterable[Domain]) -> tuple[Consumer, ...]:
    """The domains' event-log consumers, in order; a declared consumer that is not a
    ``Consumer`` (``Domain`` types them loosely, being below ``ingest``) is refused here, at
    import, rather than failing in the worker's loop."""
    found = []
    for domain in domains:
        for consumer in domain.consumers:
            if not isinstance(consumer, Consumer):
                raise ConfigurationError(
                    f"domain {domain.name!r} declares a consumer that is not an event-log "
                    f"Consumer: {consumer!r}"
                )
            found.append(consumer)
    return tuple(found)


def for_domains(registry: Mapping[str, T], domains: Iterable[Domain] = DOMAINS) -> list[T]:
    """A face's registry entries (API routers, console routers, CLI groups, keyed by domain
    name) for the listed domains, in the registry's own order, which the face chooses (route
    matching and help listings follow it). A key naming no listed domain is refused, so a
    typo, or a domain dropped from ``DOMAINS`` while its face parts stay, fails at start-up."""
    names = {domain.name for domain in domains}
    unknown = sorted(set(registry) - names)
    if unknown:
        raise ConfigurationError(f"face parts for unknown domains: {', '.join(unknown)}")
    return list(registry.values())


#: Every module defining tables of the main database, for migrations and holder coverage.
MODEL_MODULES: tuple[ModuleType, ...] = tuple(m for d in DOMAINS for m in d.models)
#: Every module registering personal-data holders on import (``privacy.holders``).
HOLDER_MODULES: tuple[str, ...] = tuple(h for d in DOMAINS for h in d.holders)
#: Every consumer of the event log, for the worker.
CONSUMERS: tuple[Consumer, ...] = consumers_of(DOMAINS)
#: Every scheduled job, in the order a worker runs those due together.
JOBS: tuple[ScheduledJob, ...] = tuple(job for d in DOMAINS for job in d.jobs)


def build_worker(store: Store, settings: Settings, *, poll_seconds: float = 0.5) -> Worker:
    """The worker running every domain's consumers and scheduled jobs: the one ``serve``
    runs in-process and ``clientvault worker`` runs in the foreground."""
    return Worker(store, settings, consumers=CONSUMERS, jobs=JOBS, poll_seconds=poll_seconds)
