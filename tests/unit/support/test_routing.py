"""Routing rules: continuity first, then fit and load; capacity and working hours always hold."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from clientvault.support.routing import AgentState, TicketNeeds, choose_agent, is_working

A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))


def agent(
    user_id: uuid.UUID,
    *,
    skills: tuple[str, ...] = (),
    languages: tuple[str, ...] = (),
    capacity: int = 5,
    open_tickets: int = 0,
    working: bool = True,
) -> AgentState:
    return AgentState(
        user_id, frozenset(skills), frozenset(languages), capacity, open_tickets, working
    )


def test_a_returning_customer_goes_to_the_agent_who_solved_their_last_ticket() -> None:
    agents = [agent(A, skills=("billing",), languages=("fr",)), agent(B, open_tickets=4)]
    decision = choose_agent(TicketNeeds("billing", "fr", previous_agent_id=B), agents)
    assert decision.agent_id == B
    assert "previous billing ticket" in decision.reason


def test_the_previous_agent_is_skipped_when_full_or_off_shift() -> None:
    needs = TicketNeeds("billing", "fr", previous_agent_id=B)
    full = [agent(A), agent(B, capacity=2, open_tickets=2)]
    assert choose_agent(needs, full).agent_id == A
    away = [agent(A), agent(B, working=False)]
    assert choose_agent(needs, away).agent_id == A


def test_skill_and_language_beat_load() -> None:
    agents = [
        agent(A, skills=("delivery",), languages=("en",), open_tickets=0),
        agent(B, skills=("delivery",), languages=("fr",), open_tickets=3),
        agent(C, languages=("fr",), open_tickets=0),
    ]
    decision = choose_agent(TicketNeeds("delivery", "fr"), agents)
    assert decision.agent_id == B
    assert "has the skill 'delivery' and speaks 'fr'" in decision.reason
    # Without anyone fitting both, the skill comes before the language.
    assert choose_agent(TicketNeeds("delivery", "de"), agents).agent_id == A


def test_load_is_balanced_relative_to_capacity() -> None:
    agents = [agent(A, capacity=10, open_tickets=4), agent(B, capacity=4, open_tickets=2)]
    assert choose_agent(TicketNeeds(None, None), agents).agent_id == A  # 40 % < 50 %


def test_nobody_free_means_queued_with_the_reason() -> None:
    full = [agent(A, capacity=1, open_tickets=1)]
    assert choose_agent(TicketNeeds(None, None), full).reason == (
        "queued: every working agent is at capacity"
    )
    assert choose_agent(TicketNeeds(None, None), [agent(A, working=False)]).agent_id is None


def test_working_hours_include_night_shifts() -> None:
    monday_10 = datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert is_working(9, 18, "12345", monday_10)
    assert not is_working(9, 18, "12345", monday_10.replace(hour=18))
    assert not is_working(9, 18, "12345", datetime(2026, 12, 6, 10, tzinfo=UTC))  # Sunday
    # A shift from 22 to 6 starting on Sunday (7) covers Monday 03:00.
    assert is_working(22, 6, "7", monday_10.replace(hour=3))
    assert not is_working(22, 6, "1", monday_10.replace(hour=3))


agents_strategy = st.lists(
    st.builds(
        agent,
        st.sampled_from([uuid.UUID(int=n) for n in range(1, 9)]),
        skills=st.lists(st.sampled_from(["billing", "delivery", "returns"]), max_size=2).map(tuple),
        languages=st.lists(st.sampled_from(["en", "fr"]), max_size=2).map(tuple),
        capacity=st.integers(1, 4),
        working=st.booleans(),
    ),
    max_size=6,
    unique_by=lambda a: a.user_id,
)
tickets_strategy = st.lists(
    st.builds(
        TicketNeeds,
        st.sampled_from([None, "billing", "delivery", "returns"]),
        st.sampled_from([None, "en", "fr"]),
        st.sampled_from([None, *(uuid.UUID(int=n) for n in range(1, 9))]),
    ),
    max_size=40,
)


@given(agents_strategy, tickets_strategy)
def test_no_agent_ever_exceeds_capacity_nor_works_off_shift(
    agents: list[AgentState], tickets: list[TicketNeeds]
) -> None:
    state = {a.user_id: a for a in agents}
    for needs in tickets:
        decision = choose_agent(needs, list(state.values()))
        if decision.agent_id is None:
            assert not any(a.working and a.has_room for a in state.values())
            continue
        chosen = state[decision.agent_id]
        assert chosen.working
        assert chosen.open_tickets < chosen.capacity
        state[chosen.user_id] = AgentState(
            chosen.user_id,
            chosen.skills,
            chosen.languages,
            chosen.capacity,
            chosen.open_tickets + 1,
            chosen.working,
        )
