"""Paths: what people do after (or before) an event, step by step, as PostHog shows them.

Definitions (a *person* is a customer, or an anonymous id for events linked to no customer;
only ``track`` events of the range count, in time order):

* a person's **path** is their sequence of event names in the range with *repeats collapsed*
  (``Viewed, Viewed, Added`` reads ``Viewed, Added``: PostHog's default);
* the **anchor** is the person's first occurrence of the chosen event in that path;
* **after**: step ``k`` (1 … N) is the ``k``-th event following the anchor; **before**: step
  ``k`` is the ``k``-th event preceding it;
* an **edge** of step ``k`` is the pair (event at step ``k − 1``, event at step ``k``) —
  after: from the anchor outwards; before: towards it — and counts the people who took it; a
  person who stops earlier leaves no edge at later steps (a drop-off).

Computed in the database in one statement (``LAG``, ``ROW_NUMBER`` and a per-person ``MIN``
window, then ``GROUP BY``), the same SQL on SQLite and PostgreSQL; only the edges' counts
come back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from clientvault.analytics.kpis import Filters, event_conditions
from clientvault.errors import InvalidInput
from clientvault.ingest.models import Event

MAX_STEPS = 10


@dataclass(frozen=True)
class PathSpec:
    """Around which event, in which direction and how many steps."""

    event: str = "Product Viewed"
    direction: str = "after"
    steps: int = 3

    def __post_init__(self) -> None:
        if not self.event or len(self.event) > 200:
            raise InvalidInput("the path's event is a name of 1 to 200 characters")
        if self.direction not in ("after", "before"):
            raise InvalidInput("a path goes after or before its event")
        if not 1 <= self.steps <= MAX_STEPS:
            raise InvalidInput(f"a path has 1 to {MAX_STEPS} steps")


@dataclass(frozen=True)
class Edge:
    """People who went from ``source`` (step ``step - 1``) to ``target`` (step ``step``)."""

    step: int
    source: str
    target: str
    people: int


@dataclass
class PathResult:
    """The anchor's people and the edges per step (most taken first)."""

    people: int
    edges: list[Edge]


def compute(session: Session, spec: PathSpec, filters: Filters) -> PathResult:
    """The paths around ``spec.event`` in ``filters``' range."""
    anonymous = case((Event.customer_id.is_(None), Event.anonymous_index), else_=None)
    person = [Event.customer_id, anonymous]
    order = [Event.occurred_at, Event.id]
    named = (
        select(
            Event.customer_id.label("cid"),
            anonymous.label("anon"),
            Event.name.label("name"),
            Event.occurred_at.label("at"),
            Event.id.label("id"),
            func.lag(Event.name).over(partition_by=person, order_by=order).label("repeat_of"),
        )
        .where(
            *event_conditions(filters),
            Event.type == "track",
            Event.name.is_not(None),
            or_(Event.customer_id.is_not(None), Event.anonymous_index.is_not(None)),
        )
        .subquery("named")
    )
    collapsed = named.c.repeat_of.is_(None) | (named.c.repeat_of != named.c.name)
    window: dict[str, Any] = {
        "partition_by": [named.c.cid, named.c.anon],
        "order_by": [named.c.at, named.c.id],
    }
    numbered = (
        select(
            named.c.cid,
            named.c.anon,
            named.c.name,
            func.row_number().over(**window).label("pos"),
            func.lag(named.c.name).over(**window).label("previous"),
            func.lead(named.c.name).over(**window).label("next"),
        )
        .where(collapsed)
        .subquery("numbered")
    )
    anchored = select(
        numbered.c.name,
        numbered.c.previous,
        numbered.c.next,
        (
            numbered.c.pos
            - func.min(case((numbered.c.name == spec.event, numbered.c.pos))).over(
                partition_by=[numbered.c.cid, numbered.c.anon]
            )
        ).label("distance"),
    ).subquery("anchored")
    offset = anchored.c.distance
    if spec.direction == "after":
        step: Any = offset
        source, target = anchored.c.previous, anchored.c.name
    else:
        step = -offset
        source, target = anchored.c.name, anchored.c.next
    rows = session.execute(
        select(step.label("step"), source, target, func.count())
        .where(or_(offset == 0, and_(step >= 1, step <= spec.steps)))
        .group_by(step, source, target)
    ).all()
    people = sum(int(n) for k, _, _, n in rows if int(k) == 0)
    edges = [Edge(int(k), str(a), str(b), int(n)) for k, a, b, n in rows if int(k) > 0 and a and b]
    edges.sort(key=lambda e: (e.step, -e.people, e.source, e.target))
    return PathResult(people, edges)
