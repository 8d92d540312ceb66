"""The demo's identity step: a batch matching run over the generated profiles, so the
review queue has pairs to decide (the generator plants duplicates: typos, swapped names,
new e-mail addresses) and the customer list shows merged people.

The run uses the installation's thresholds (``identity.auto_merge_probability`` and
``review_probability``): the sure pairs are merged, the grey zone between them is queued
for review, as a real installation's nightly job would leave it.
"""

from __future__ import annotations

from clientvault.identity.matching.resolve import resolve
from clientvault.identity.matching.store import Thresholds
from clientvault.settings import Settings
from clientvault.store.context import Store

#: The seed of the run's sampling: the same demo data gives the same merges and queue.
SEED = 42


def match_identities(store: Store, settings: Settings) -> str:
    """Run batch matching on the demo's profiles; one line saying what it merged and queued."""
    summary = resolve(
        store, settings=settings.identity, thresholds=Thresholds.of(settings.identity), seed=SEED
    )
    return (
        f"Identity matching: {summary.auto_merged:,} duplicate pairs merged, "
        f"{summary.queued:,} queued for review in the console (Identity review)."
    )
