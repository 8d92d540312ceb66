"""Property test: for any history of consents, objections, restrictions and merges, the SQL
audience equals a plain-Python reading of the rules."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from clientvault.identity.models import Customer
from clientvault.privacy import consent
from clientvault.privacy.audiences import audience
from clientvault.privacy.purposes import DEFAULT_PURPOSES
from clientvault.store.context import Store
from support.privacy_core import make_customers, merge_into, person, prepare

PEOPLE = 4
PURPOSES = {p.code: p for p in DEFAULT_PURPOSES}
CHECKED = ("marketing_email", "analytics", "order_fulfilment", "personalisation")

step = st.one_of(
    st.tuples(
        st.just("consent"),
        st.integers(0, PEOPLE - 1),
        st.sampled_from(CHECKED),
        st.sampled_from(["granted", "withdrawn"]),
    ),
    st.tuples(
        st.sampled_from(["objection", "restriction"]),
        st.integers(0, PEOPLE - 1),
        st.just(""),
        st.booleans(),
    ),
    st.tuples(st.just("merge"), st.integers(0, PEOPLE - 1), st.integers(0, PEOPLE - 1), st.just(0)),
)


@dataclass
class Person:
    decisions: dict[str, str] = field(default_factory=dict)
    limits: dict[str, bool] = field(default_factory=dict)
    merged_into: int | None = None


def _passes(p: Person, purpose: str) -> bool:
    info = PURPOSES[purpose]
    if p.limits.get("restriction"):
        return False
    if info.direct_marketing and p.limits.get("objection"):
        return False
    decision = p.decisions.get(purpose)
    if info.legal_basis == "consent":
        return decision == "granted"
    if info.legal_basis == "legitimate_interest":
        return decision != "withdrawn"
    return True


def _expected(people: list[Person], purpose: str) -> set[int]:
    return {
        i
        for i, p in enumerate(people)
        if p.merged_into is None
        and _passes(p, purpose)
        and all(_passes(q, purpose) for q in people if q.merged_into == i)
    }


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, max_size=14))
def test_sql_audience_matches_the_rules(db: Store, steps: list[tuple[object, ...]]) -> None:
    prepare(db)
    ids = make_customers(db, *(person(n) for n in range(PEOPLE)))
    people = [Person() for _ in ids]
    with db.sessions.begin() as session:
        for kind, who, what, value in steps:
            assert isinstance(who, int)
            if kind == "consent":
                assert isinstance(what, str)
                consent.record_decision(
                    session,
                    customer_id=ids[who],
                    purpose=what,
                    decision="granted" if value == "granted" else "withdrawn",
                    policy_version="1",
                    channel="web",
                )
                people[who].decisions[what] = str(value)
            elif kind in ("objection", "restriction"):
                record = (
                    consent.record_objection if kind == "objection" else consent.record_restriction
                )
                record(session, customer_id=ids[who], channel="web", active=bool(value))
                people[who].limits[str(kind)] = bool(value)
            else:
                assert isinstance(what, int)
                absorbed, survivor = who, what
                roots = [i for i, p in enumerate(people) if p.merged_into is None]
                has_children = any(p.merged_into == absorbed for p in people)
                if absorbed == survivor or survivor not in roots or absorbed not in roots:
                    continue
                if has_children:
                    continue
                people[absorbed].merged_into = survivor
    for absorbed, p in enumerate(people):
        if p.merged_into is not None:
            merge_into(db, ids[absorbed], ids[p.merged_into])
    base = select(Customer.id).where(Customer.id.in_(ids))
    with db.read_sessions() as session:
        for purpose in CHECKED:
            found = set(session.scalars(audience(session, purpose=purpose, customers=base)))
            assert found == {ids[i] for i in _expected(people, purpose)}, purpose
