"""Routing: which agent a ticket goes to, and why.

The rules, in order:

1. **Continuity** — the agent who solved this customer's previous ticket of the same category,
   if they are working now and have room: they know the customer and the problem.
2. **Fit, then load** — among agents working now with room, those with the category as a skill
   and the ticket's language first (then skill only, then language only, then anyone); within
   the best group, the lowest load relative to capacity (balanced, not round-robin), then
   whoever was given a ticket least recently.
3. **Queue** — nobody has room: the ticket waits, and ``assign_queued`` gives it out as soon as
   an agent frees up (oldest and most urgent first).

Pure functions over plain values, so the rules are tested without a database; the service
(``tickets``) loads the agents' state and applies the choice. Hand-written because the
helpdesk libraries on PyPI are whole applications, not routing libraries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AgentState:
    """An agent as routing sees them at one moment."""

    user_id: uuid.UUID
    skills: frozenset[str]
    languages: frozenset[str]
    capacity: int
    open_tickets: int
    working: bool
    last_assigned_at: datetime | None = None

    @property
    def has_room(self) -> bool:
        """Whether one more ticket keeps the agent within capacity."""
        return self.open_tickets < self.capacity

    @property
    def load(self) -> float:
        """Open tickets as a share of capacity."""
        return self.open_tickets / self.capacity if self.capacity else 1.0


@dataclass(frozen=True)
class TicketNeeds:
    """What routing needs to know about a ticket."""

    category: str | None
    language: str | None
    previous_agent_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Decision:
    """The chosen agent (``None``: queued) and the reason shown on the ticket."""

    agent_id: uuid.UUID | None
    reason: str


#: How well an agent fits a ticket, best first: (has the skill, speaks the language) -> words.
_FITS = {
    (True, True): "has the skill '{category}' and speaks '{language}'",
    (True, False): "has the skill '{category}'",
    (False, True): "speaks '{language}'",
    (False, False): "is available",
}
_RANK = {fit: rank for rank, fit in enumerate(_FITS)}


def is_working(start_hour: int, end_hour: int, weekdays: str, local: datetime) -> bool:
    """Whether ``local`` (the installation's wall-clock time) falls in the working hours:
    ``[start_hour, end_hour)`` on the ISO weekdays listed (``"12345"``: Monday to Friday).
    A shift past midnight (22 to 6) counts from its starting day."""
    day, hour = str(local.isoweekday()), local.hour
    if start_hour <= end_hour:
        return day in weekdays and start_hour <= hour < end_hour
    previous = str((local.isoweekday() - 2) % 7 + 1)
    return (day in weekdays and hour >= start_hour) or (previous in weekdays and hour < end_hour)


def choose_agent(ticket: TicketNeeds, agents: list[AgentState]) -> Decision:
    """The agent a ticket goes to, or ``None`` with the reason it is queued."""
    ready = [a for a in agents if a.working and a.has_room]
    if ticket.previous_agent_id is not None:
        previous = next((a for a in ready if a.user_id == ticket.previous_agent_id), None)
        if previous is not None:
            return Decision(
                previous.user_id,
                f"solved this customer's previous {ticket.category or 'uncategorised'} ticket",
            )
    if not ready:
        working = [a for a in agents if a.working]
        why = "every working agent is at capacity" if working else "no agent is working now"
        return Decision(None, f"queued: {why}")

    def fit(agent: AgentState) -> tuple[bool, bool]:
        return (
            ticket.category is not None and ticket.category in agent.skills,
            ticket.language is not None and ticket.language in agent.languages,
        )

    best = min(ready, key=lambda a: (_RANK[fit(a)], *_balance_key(a)))
    reason = _FITS[fit(best)].format(category=ticket.category, language=ticket.language)
    return Decision(
        best.user_id, f"{reason}; lowest load ({best.open_tickets}/{best.capacity} open)"
    )


def _balance_key(agent: AgentState) -> tuple[float, float, str]:
    last = agent.last_assigned_at.timestamp() if agent.last_assigned_at else float("-inf")
    return (agent.load, last, str(agent.user_id))
