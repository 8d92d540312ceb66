"""The access-alert consumer of the audit log: its rules, its cursor, and replays."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from clientvault.security import audit
from clientvault.security.alerts import detection, inbox
from clientvault.security.models import Alert, AuditEntry
from clientvault.security.principal import Principal
from clientvault.settings import SecuritySettings, Settings
from clientvault.store.context import Store

#: A Monday, 09:00 UTC.
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """The audit log's clock, set by the test before each entry it writes."""

    def __init__(self) -> None:
        self.now = MONDAY

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(audit, "utcnow", fake)
    return fake


@pytest.fixture
def policy(db_settings: Settings) -> SecuritySettings:
    return db_settings.security


def _staff() -> Principal:
    return Principal.user(uuid.uuid4(), role="support", permissions=frozenset({"pii:reveal"}))


def _write(
    db: Store,
    clock: Clock,
    principal: Principal,
    action: str,
    times: list[datetime],
    *,
    targets: list[str] | None = None,
    details: dict[str, Any] | None = None,
) -> list[str]:
    """One entry per time (each with its own target when ``targets`` is given)."""
    targets = targets or [str(uuid.uuid4()) for _ in times]
    with db.sessions.begin() as session:
        for at, target in zip(times, targets, strict=True):
            clock.now = at
            audit.record(
                session,
                principal=principal,
                action=action,
                target_type="customer",
                target_ids=[target],
                reason="support ticket",
                details=details or {"fields": ["email"]},
            )
    return targets


def _spread(start: datetime, count: int, over: timedelta) -> list[datetime]:
    step = over / count
    return [start + step * i for i in range(count)]


def _alerts(db: Store) -> list[Alert]:
    with db.sessions() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def _snapshot(db: Store) -> list[tuple[Any, ...]]:
    return [
        (a.dedup_key, a.kind, a.severity, a.window_start, a.window_end, a.evidence)
        for a in _alerts(db)
    ]


def _history(
    db: Store, clock: Clock, principal: Principal, *, days: int, per_hour: int, hours: range
) -> None:
    """``days`` working days before MONDAY of ``per_hour`` reads in each of ``hours``."""
    times = []
    for day in range(days, 0, -1):
        for hour in hours:
            start = MONDAY.replace(hour=hour) - timedelta(days=day)
            times += _spread(start, per_hour, timedelta(minutes=50))
    _write(db, clock, principal, "pii.reveal", times)


def test_curious_employee_reading_500_profiles_in_an_hour_raises_one_alert(
    db: Store, clock: Clock, policy: SecuritySettings
) -> None:
    curious = _staff()
    afternoon = MONDAY.replace(hour=14)
    customers = _write(
        db, clock, curious, "pii.reveal", _spread(afternoon, 500, timedelta(minutes=50))
    )

    assert detection.drain(db, policy=policy, batch_size=64) == 500  # the episode spans 8 batches

    [alert] = _alerts(db)
    assert (alert.kind, alert.severity, alert.status) == ("bulk_read", "high", "open")
    assert (alert.actor_kind, alert.actor_id) == ("user", curious.id)
    assert alert.window_start == afternoon
    assert alert.window_end == afternoon + timedelta(minutes=50) * 499 / 500
    evidence = alert.evidence
    with db.sessions() as session:
        ids = list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))
    assert evidence["entries"] == 500
    assert evidence["peak_profiles_per_hour"] == 500
    assert evidence["threshold"] == policy.alert_read_floor_per_hour
    assert evidence["baseline_median_per_hour"] == 0
    assert (evidence["first_entry_id"], evidence["last_entry_id"]) == (ids[0], ids[-1])
    assert evidence["sample_entry_ids"] == ids[:25]
    assert "500 distinct profiles" in alert.summary
    shown = json.dumps(evidence) + alert.summary
    assert not any(customer in shown for customer in customers)  # ids of entries, not people


def test_normal_use_raises_nothing(db: Store, clock: Clock, policy: SecuritySettings) -> None:
    agent = _staff()
    # A fortnight of ordinary support work, then a busier but ordinary day.
    _history(db, clock, agent, days=14, per_hour=12, hours=range(9, 17))
    _write(db, clock, agent, "pii.reveal", _spread(MONDAY, 20, timedelta(hours=8)))
    newcomer = _staff()  # no history at all: 20 reveals spread over the working day
    _write(db, clock, newcomer, "pii.reveal", _spread(MONDAY, 20, timedelta(hours=8)))
    busy = _staff()  # a busy hour, but under the floor
    _write(db, clock, busy, "pii.reveal", _spread(MONDAY, 120, timedelta(minutes=55)))

    detection.drain(db, policy=policy)

    assert _alerts(db) == []


def test_profiles_are_counted_once_however_often_they_are_opened(
    db: Store, clock: Clock, policy: SecuritySettings
) -> None:
    agent = _staff()
    ten = [str(uuid.uuid4()) for _ in range(10)]
    times = _spread(MONDAY, 500, timedelta(minutes=50))
    _write(db, clock, agent, "pii.reveal", times, targets=ten * 50)

    detection.drain(db, policy=policy)

    assert _alerts(db) == []


def test_the_threshold_follows_the_users_own_baseline(
    db: Store, clock: Clock, policy: SecuritySettings
) -> None:
    policy = policy.model_copy(update={"alert_read_floor_per_hour": 20})
    steady, heavy = _staff(), _staff()
    _history(db, clock, steady, days=7, per_hour=10, hours=range(9, 17))
    _history(db, clock, heavy, days=7, per_hour=18, hours=range(9, 17))
    _write(db, clock, steady, "pii.reveal", _spread(MONDAY, 60, timedelta(minutes=50)))
    _write(db, clock, heavy, "pii.reveal", _spread(MONDAY, 60, timedelta(minutes=50)))

    detection.drain(db, policy=policy)

    [alert] = _alerts(db)  # 60: six times the steady user's hour, 3.3 the heavy one's
    assert (alert.kind, alert.actor_id) == ("bulk_read", steady.id)
    assert alert.evidence["baseline_median_per_hour"] == 10
    assert alert.evidence["threshold"] == 41


def test_replaying_the_log_creates_nothing_twice(
    db: Store, clock: Clock, policy: SecuritySettings
) -> None:
    curious = _staff()
    _write(db, clock, curious, "pii.reveal", _spread(MONDAY, 300, timedelta(minutes=40)))
    _write(db, clock, curious, "pii.reveal", [MONDAY.replace(hour=3)])  # unusual hour too
    _write(db, clock, _staff(), "pii.export", [MONDAY] * 3)
    detection.drain(db, policy=policy, batch_size=50)
    before = _snapshot(db)
    assert {kind for _, kind, *_ in before} == {"bulk_read", "unusual_hours", "bulk_export"}

    for batch_size in (1000, 7):
        with db.sessions.begin() as session:
            detection.rewind(session)
        assert detection.position(db) == 0
        detection.drain(db, policy=policy, batch_size=batch_size)
        assert _snapshot(db) == before


def test_an_export_is_one_alert_even_across_batches(
    db: Store, clock: Clock, policy: SecuritySettings
) -> None:
    exporter = _staff()
    clock.now = MONDAY
    with db.sessions.begin() as session:  # one export: one entry per customer, one time
        audit.record(
            session,
            principal=exporter,
            action="pii.export",
            target_type="customer",
            target_ids=[str(uuid.uuid4()) for _ in range(1200)],
            reason="campaign agency",
        )
    detection.drain(db, policy=policy, batch_size=500)

    [alert] = _alerts(db)
    assert (alert.kind, alert.severity) == ("bulk_export", "high")
    assert alert.evidence["entries"] == 1200
    assert alert.summary == "export of 1200 records (pii.export)"


def test_unusual_hours_against_history_or_working_hours(
    db: Store, clock: Clock, policy: SecuritySettings
) -> None:
    day_worker, night_worker, newcomer = _staff(), _staff(), _staff()
    _history(db, clock, day_worker, days=7, per_hour=3, hours=range(9, 17))
    _history(db, clock, night_worker, days=7, per_hour=3, hours=range(1, 5))
    at_three = MONDAY.replace(hour=3, minute=10)
    _write(db, clock, day_worker, "pii.reveal", [at_three, at_three + timedelta(minutes=5)])
    _write(db, clock, night_worker, "pii.reveal", [at_three])
    _write(db, clock, newcomer, "customer.viewed", [at_three])
    _write(db, clock, newcomer, "customer.viewed", [MONDAY.replace(hour=10)])

    detection.drain(db, policy=policy)

    everything = _alerts(db)
    # The night worker's first nights are judged by working hours, until five days of history.
    early = [a for a in everything if a.window_start < MONDAY.replace(hour=0)]
    assert {a.actor_id for a in early} == {night_worker.id}
    assert [a.evidence["basis"] for a in early] == ["working_hours"] * 5
    found = {alert.actor_id: alert for alert in everything if alert not in early}
    assert set(found) == {day_worker.id, newcomer.id}
    assert found[day_worker.id].kind == "unusual_hours"
    assert found[day_worker.id].severity == "low"
    assert found[day_worker.id].evidence["basis"] == "own_history"
    assert found[day_worker.id].evidence["entries"] == 2
    assert found[day_worker.id].evidence["local_hours"] == [3]
    assert found[newcomer.id].evidence["basis"] == "working_hours"
    assert found[newcomer.id].evidence["entries"] == 1


def test_many_denials_per_account_and_per_network(
    db: Store, clock: Clock, policy: SecuritySettings
) -> None:
    explorer, occasional = _staff(), _staff()
    limit = policy.alert_denials_threshold
    _write(db, clock, explorer, "access.denied", _spread(MONDAY, limit + 5, timedelta(minutes=5)))
    _write(db, clock, occasional, "access.denied", _spread(MONDAY, 5, timedelta(minutes=5)))
    anonymous = Principal(kind="user", id="anonymous")
    _write(
        db,
        clock,
        anonymous,
        "access.denied",
        _spread(MONDAY, limit, timedelta(minutes=5)),
        details={"needed": "unauthenticated", "network": "127.0.0.2"},
    )
    _write(
        db,
        clock,
        anonymous,
        "access.denied",
        _spread(MONDAY, 3, timedelta(minutes=5)),
        details={"needed": "unauthenticated", "network": "127.0.1.3"},
    )

    detection.drain(db, policy=policy, batch_size=10)

    found = _alerts(db)
    assert [(a.kind, a.actor_id) for a in found] == [
        ("denials", explorer.id),
        ("denials", "anonymous"),
    ]
    assert found[0].evidence["entries"] == limit + 5
    assert found[1].subject.startswith("network:")
    assert "127.0.0" not in json.dumps(found[1].evidence) + found[1].subject


def test_sign_in_from_a_new_network(db: Store, clock: Clock, policy: SecuritySettings) -> None:
    user = _staff()

    def login(at: datetime, network: str) -> None:
        _write(db, clock, user, "login.succeeded", [at], details={"network": network})

    login(MONDAY - timedelta(days=3), "127.0.0.1")  # the first sign-in: nothing to compare
    login(MONDAY - timedelta(days=2), "127.0.0.7")  # same /24
    login(MONDAY - timedelta(days=1), "::1")  # a new network
    login(MONDAY, "127.0.0.9")
    login(MONDAY + timedelta(hours=1), "127.0.9.1")  # a new network
    login(MONDAY + timedelta(hours=2), "127.0.9.2")  # seen an hour ago

    detection.drain(db, policy=policy, batch_size=2)

    found = _alerts(db)
    assert [(a.kind, a.severity) for a in found] == [("new_network", "medium")] * 2
    assert [a.evidence["known_networks"] for a in found] == [1, 2]
    assert all("127.0" not in json.dumps(a.evidence) for a in found)


def test_replayed_totp_code_is_a_high_alert(
    db: Store, clock: Clock, policy: SecuritySettings
) -> None:
    user = _staff()
    clock.now = MONDAY
    with db.sessions.begin() as session:
        audit.record(session, principal=user, action="mfa.replay_refused")
    detection.drain(db, policy=policy)
    [alert] = _alerts(db)
    assert (alert.kind, alert.severity, alert.actor_id) == ("mfa_replay", "high", user.id)


def test_acknowledging_is_audited_once_and_filters_apply(
    db: Store, clock: Clock, policy: SecuritySettings
) -> None:
    _write(db, clock, _staff(), "pii.export", [MONDAY])
    _write(db, clock, _staff(), "pii.export", [MONDAY])
    detection.drain(db, policy=policy)
    first, second = _alerts(db)
    dpo = Principal.user(uuid.uuid4(), role="dpo", permissions=frozenset({"alerts:read"}))
    for _ in range(2):
        with db.sessions.begin() as session:
            inbox.acknowledge(session, alert_id=first.id, by=dpo)

    with db.sessions() as session:
        assert [a.id for a in inbox.list_alerts(session, status="open")] == [second.id]
        assert [a.id for a in inbox.list_alerts(session, status="acknowledged")] == [first.id]
        assert [a.id for a in inbox.list_alerts(session, before=second.id)] == [first.id]
        assert inbox.count_open(session) == 1
        acknowledged = inbox.get_alert(session, first.id)
        assert acknowledged.acknowledged_by == dpo.id
        assert acknowledged.acknowledged_at is not None
        entries = session.scalar(
            select(func.count()).where(AuditEntry.action == "alert.acknowledged")
        )
    assert entries == 1
    # The consumer reads its own acknowledgement entries and finds nothing in them.
    detection.drain(db, policy=policy)
    assert len(_alerts(db)) == 2


def test_an_idle_consumer_reads_nothing(db: Store, policy: SecuritySettings) -> None:
    assert detection.process_batch(db, policy=policy) == 0
    assert detection.position(db) == 0
