"""The demo's identity step: a batch matching run over the generated profiles, so the
review queue has pairs to decide (the generator plants duplicates: typos, swapped names,
new e-mail addresses) and the customer list shows merged people.

The planted duplicates are easy for the model: their match weights run from about 20 to 70
(2,000 customers), all far above the installation's automatic threshold (0.99, a weight of
6.6), so with the defaults the queue would stay empty. The demo therefore merges on its own
only from a weight of ``AUTO_MERGE_WEIGHT`` (40: about two thirds of the pairs) and queues the
rest, down to the installation's review threshold: the weaker evidence (typos, a new e-mail
address, a moved customer) is what a person decides, as they would on real data.
"""

from __future__ import annotations

from clientvault.identity.matching.resolve import resolve
from clientvault.identity.matching.store import Thresholds
from clientvault.settings import Settings
from clientvault.store.context import Store

#: The seed of the run's sampling: the same demo data gives the same merges and queue.
SEED = 42
#: Match weight (log2 of the odds) from which the demo merges a pair without review.
AUTO_MERGE_WEIGHT = 40.0


def demo_thresholds(settings: Settings) -> Thresholds:
    """The demo's thresholds: automatic merges from ``AUTO_MERGE_WEIGHT``, review from the
    installation's own review threshold."""
    odds = 2.0**AUTO_MERGE_WEIGHT
    return Thresholds(auto_merge=odds / (1.0 + odds), review=settings.identity.review_probability)


def match_identities(store: Store, settings: Settings) -> str:
    """Run batch matching on the demo's profiles; one line saying what it merged and queued."""
    summary = resolve(
        store, settings=settings.identity, thresholds=demo_thresholds(settings), seed=SEED
    )
    return (
        f"Identity matching: {summary.auto_merged:,} duplicate pairs merged, "
        f"{summary.queued:,} queued for review in the console (Identity review)."
    )
