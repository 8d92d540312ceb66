"""The demo's showcase steps: after the synthetic data is written, each domain puts its
objects on show (a matching run so the review queue has pairs, a few segments, a dashboard's
experiment, a journey, a backup…), so that a person trying ``make demo`` finds every
console page working with something in it.

A domain adds one function to ``STEPS``, in its own module ``demo/<domain>.py``; each step
runs in order, after the data, and returns the line the demo prints about what it did.
"""

from __future__ import annotations

from collections.abc import Callable

from clientvault.demo import analytics, segments
from clientvault.demo.automation import showcase_journeys
from clientvault.demo.backup import show_backups
from clientvault.demo.identity import match_identities
from clientvault.demo.personalize import seed_personalisation
from clientvault.demo.predict import show_predictions
from clientvault.demo.privacy import open_requests
from clientvault.demo.support import seed_support
from clientvault.demo.tracking import create_demo_source
from clientvault.settings import Settings
from clientvault.store.context import Store

#: What one step does to a freshly generated demo installation; returns one summary line.
ShowcaseStep = Callable[[Store, Settings], str]

#: The steps, in the order they run (a later domain's step may use an earlier one's objects).
STEPS: tuple[ShowcaseStep, ...] = (
    create_demo_source,
    match_identities,
    open_requests,
    segments.showcase,
    analytics.showcase,
    showcase_journeys,
    show_predictions,
    seed_personalisation,
    seed_support,
    # Last: its backup holds what the steps before made.
    show_backups,
)


def run_showcase(store: Store, settings: Settings) -> list[str]:
    """Run every showcase step on a freshly generated demo; the lines they report."""
    return [step(store, settings) for step in STEPS]
