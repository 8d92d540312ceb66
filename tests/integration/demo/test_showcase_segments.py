"""The demo's segments step: RFM groups and personas computed on the generated data, and the
demo segments saved and evaluated."""

from __future__ import annotations

from sqlalchemy import select

from clientvault.customers.scores import score_kinds
from clientvault.demo.segments import SEGMENTS, showcase
from clientvault.demo.showcase import STEPS
from clientvault.segments.models import Segment
from clientvault.settings import Settings
from clientvault.store.context import Store


def test_the_segments_step_saves_segments_and_scores(
    db: Store, db_settings: Settings, generate: object
) -> None:
    assert showcase in STEPS
    generate(db, seed=3, customers=80)  # type: ignore[operator]
    line = showcase(db, db_settings)
    assert line.startswith(f"segments: {len(SEGMENTS)} saved")
    with db.sessions() as session:
        slugs = set(session.scalars(select(Segment.slug)))
        kinds = {k.kind: k for k in score_kinds(session)}
    assert slugs == {s["slug"] for s in SEGMENTS}
    assert kinds["rfm_group"].customers > 10
    assert kinds["persona"].customers > 60
    # Run again (make demo twice): the segments are replaced, not refused.
    assert showcase(db, db_settings).startswith("segments: 4 saved")
