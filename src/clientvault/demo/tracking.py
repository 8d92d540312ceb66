"""The demo's tracking step: a source for the person trying the demo to send events with
(the snippet, a Segment SDK, curl), its write key printed once, as the CLI would."""

from __future__ import annotations

from sqlalchemy import select

from clientvault.demo.privacy import DEMO
from clientvault.ingest.models import TrackingSource
from clientvault.ingest.sources import create_source
from clientvault.settings import Settings
from clientvault.store.context import Store

SOURCE = "demo-website"


def create_demo_source(store: Store, settings: Settings) -> str:
    """Create the ``demo-website`` source if it is not there; the line gives its write key
    (shown this once: only a hash of it is kept)."""
    with store.sessions.begin() as session:
        if session.scalar(select(TrackingSource.id).where(TrackingSource.name == SOURCE)):
            return f"Tracking source {SOURCE!r} exists already (see the Settings page)."
        created = create_source(session, name=SOURCE, principal=DEMO)
    return (
        f"Tracking source {SOURCE!r}, write key (shown once):\n  {created.write_key}\n"
        f'  e.g. <script src="{settings.privacy.public_url.rstrip("/")}/t.js" '
        f'data-write-key="{created.write_key}" async></script>'
    )
