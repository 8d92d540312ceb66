"""What a domain tells the rest of the platform about itself: ``Domain``.

Each domain exposes one ``Domain`` in its ``domain.py``, and ``clientvault.domains`` lists
them; migrations' model discovery, the holder registry, the worker, the scheduler and the
faces read that list instead of naming domains one by one. Defined here, below every domain,
so each can describe itself. The faces (API routes, console pages, CLI groups) are not part of
it: domain code never imports them; each face keeps a registry keyed by ``Domain.name``
(see ``docs/architecture.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from clientvault.store.schedule import ScheduledJob


@dataclass(frozen=True)
class Domain:
    """One domain's contribution to the installation.

    - ``models``: the modules defining its SQLAlchemy tables (imported, so their tables are in
      ``Base.metadata`` for migrations and the holder coverage check);
    - ``holders``: dotted names of the modules registering its personal-data holders on
      import (names, since a domain's holders may live in ``privacy``, which it cannot import);
    - ``consumers``: its readers of the event log (``ingest.consumers.Consumer``; typed loosely
      because this layer sits below ``ingest``, and checked by ``clientvault.domains``);
    - ``jobs``: its scheduled jobs, run by the worker in the order given;
    - ``settings``: the name of its section of ``Settings``, if it has one.
    """

    name: str
    models: tuple[ModuleType, ...] = ()
    holders: tuple[str, ...] = ()
    consumers: tuple[object, ...] = ()
    jobs: tuple[ScheduledJob, ...] = ()
    settings: str | None = None
