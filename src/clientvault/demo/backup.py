"""The demo's backup step: a first backup of the data and of the keystore, and a restore
drill of it, so the console's Backups page shows a catalogue and a passed drill with its RTO/RPO."""

from __future__ import annotations

from clientvault.backup.create import create_backup
from clientvault.backup.drills import run_drill
from clientvault.migrations.schema import load_holders
from clientvault.settings import Settings
from clientvault.store.context import Store


def show_backups(store: Store, settings: Settings) -> str:
    """Back up both databases to their targets and drill the data backup; one summary line."""
    load_holders()
    data = create_backup(settings, "data")
    keys = create_backup(settings, "keystore")
    if store.engine.dialect.name != "sqlite" and settings.backup.drill_url is None:
        outcome = "no drill (PostgreSQL drills need CLIENTVAULT_BACKUP__DRILL_URL)"
    else:
        drill = run_drill(store, settings)
        outcome = (
            f"drill passed in {drill.rto_seconds:.1f} s"
            if drill.ok
            else f"drill FAILED: {drill.problem}"
        )
    return (
        f"Backups: data {data.stored_bytes:,} bytes and keystore {keys.stored_bytes:,} bytes "
        f"on {', '.join(data.complete_on)}; {outcome}."
    )
