"""Support agents: members of staff with the support permission, their skills, languages,
capacity and working hours, as routing reads them."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput, NotFound
from clientvault.security.models import User
from clientvault.support.models import SupportAgent

_WORD = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class AgentProfile:
    """What a supervisor sets for an agent."""

    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    capacity: int = 5
    start_hour: int = 9
    end_hour: int = 18
    weekdays: str = "12345"
    active: bool = True


def _words(values: tuple[str, ...], field: str) -> list[str]:
    cleaned = sorted({v.strip().lower() for v in values if v.strip()})
    bad = [v for v in cleaned if not _WORD.match(v)]
    if bad:
        raise InvalidInput(
            f"{field}: use short lower-case words ({', '.join(bad)} is not one)",
            details={"field": field},
        )
    return cleaned


def set_agent(session: Session, *, user_id: uuid.UUID, profile: AgentProfile) -> SupportAgent:
    """Make a member of staff an agent, or change their profile; validated here so the API,
    the console and the CLI refuse the same things."""
    if session.get(User, user_id) is None:
        raise NotFound("no such member of staff")
    if not 1 <= profile.capacity <= 200:
        raise InvalidInput("capacity is from 1 to 200 open tickets", details={"field": "capacity"})
    if not (0 <= profile.start_hour <= 23 and 1 <= profile.end_hour <= 24):
        raise InvalidInput("hours are 0-23 (start) and 1-24 (end)", details={"field": "hours"})
    if not profile.weekdays or not set(profile.weekdays) <= set("1234567"):
        raise InvalidInput("weekdays are ISO digits 1 (Monday) to 7", details={"field": "weekdays"})
    agent = session.get(SupportAgent, user_id) or SupportAgent(user_id=user_id)
    agent.skills = _words(profile.skills, "skills")
    agent.languages = _words(profile.languages, "languages")
    agent.capacity = profile.capacity
    agent.start_hour, agent.end_hour = profile.start_hour, profile.end_hour
    agent.weekdays = "".join(sorted(set(profile.weekdays)))
    agent.active = profile.active
    session.add(agent)
    session.flush()
    return agent


def list_agents(session: Session) -> list[tuple[SupportAgent, User]]:
    """Every agent with their staff account, by name."""
    return [
        (agent, user)
        for agent, user in session.execute(
            select(SupportAgent, User)
            .join(User, User.id == SupportAgent.user_id)
            .order_by(User.display_name)
        )
    ]


def is_agent(session: Session, user_id: uuid.UUID | None) -> bool:
    """Whether a member of staff is a support agent (``None``, a system job, never is)."""
    return user_id is not None and session.get(SupportAgent, user_id) is not None
