"""Access alerts: a consumer of the audit log that flags suspicious internal access.

It reads audit entries past its own cursor (``audit_cursors``), in batches, the way the
event-log consumers read events: the cursor moves in the same transaction as the alerts it
raised, so a crash replays the last batch at most, and on PostgreSQL the cursor row is locked
with ``SKIP LOCKED`` so that several workers never store a batch twice. Replays change
nothing: each alert has a ``dedup_key`` derived from the entries that raised it, and a later
finding of the same alert only adds entries it had not counted yet. ``rewind`` replays the
log on purpose (after a change of thresholds, say).

The rules themselves are in ``rules``; this module loads what they need for a batch (a
few queries per batch, whatever its size) in a read-only session, then stores their findings
in a short writing transaction. Alerts hold ids, counts and times, never personal data, and
are listed (``inbox``) for whoever holds ``alerts:read`` (admins and the DPO).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, String, case, cast, distinct, func, or_, select
from sqlalchemy.orm import Session

from clientvault.errors import ConfigurationError
from clientvault.security.alerts import rules
from clientvault.security.alerts.rules import Entry, EntryTest, Finding
from clientvault.security.models import Alert, AuditCursor, AuditEntry
from clientvault.settings import SecuritySettings
from clientvault.store.context import Store
from clientvault.store.cursors import locked_cursor

#: The cursor name of this consumer of the audit log.
CONSUMER_NAME = "access-alerts"
#: The columns the rules read, in ``rules.Entry``'s order (``details`` may follow).
_ENTRY_COLUMNS = (
    AuditEntry.id,
    AuditEntry.occurred_at,
    AuditEntry.actor_kind,
    AuditEntry.actor_id,
    AuditEntry.action,
    AuditEntry.target_id,
)


def process_batch(store: Store, *, policy: SecuritySettings, batch_size: int = 1000) -> int:
    """Run the rules over the next batch of audit entries; returns how many were read.

    The rules read in a read-only session; only storing the alerts and moving the cursor
    takes a writing transaction, so SQLite's single write lock is held for milliseconds, not
    for the whole analysis. If the cursor moved meanwhile (another worker took the batch), or
    another worker holds it now, nothing is stored and 0 is returned, as when the log has
    nothing new.
    """
    zone = _zone(policy)
    with store.read_sessions() as session, session.begin():
        cursor = session.get(AuditCursor, CONSUMER_NAME)
        start = cursor.position if cursor else 0
        batch = [
            Entry(*row)
            for row in session.execute(
                select(*_ENTRY_COLUMNS, AuditEntry.details)
                .where(AuditEntry.id > start)
                .order_by(AuditEntry.id)
                .limit(batch_size)
            )
        ]
        if not batch:
            return 0
        findings = find(session, batch, policy=policy, zone=zone)
    with store.sessions.begin() as session:
        locked = locked_cursor(session, AuditCursor, CONSUMER_NAME)
        if locked is None or locked.position != start:
            return 0
        for finding in findings:
            _store_finding(session, finding, policy)
        locked.position = batch[-1].id
        return len(batch)


def drain(store: Store, *, policy: SecuritySettings, batch_size: int = 1000) -> int:
    """Process batches until the consumer has caught up with the audit log."""
    total = 0
    while count := process_batch(store, policy=policy, batch_size=batch_size):
        total += count
    return total


def position(store: Store) -> int:
    """The id of the last audit entry the consumer handled (0 if it never ran)."""
    with store.read_sessions() as session:
        cursor = session.get(AuditCursor, CONSUMER_NAME)
        return cursor.position if cursor else 0


def rewind(session: Session, *, to: int = 0) -> None:
    """Move the cursor back so the next runs read the log again from entry ``to`` + 1.

    Safe at any time: what was found before is found again and merged, not duplicated.
    """
    cursor = session.get(AuditCursor, CONSUMER_NAME)
    if cursor is not None:
        cursor.position = to
        session.flush()


def find(
    session: Session, batch: Sequence[Entry], *, policy: SecuritySettings, zone: ZoneInfo
) -> list[Finding]:
    """Apply every rule to one batch of entries (in id order); returns what they found.

    For the users who read personal data in the batch, two queries load what the rules need:
    their entries from an hour before the batch on, and their earlier activity summarised by
    hour over the baseline period (so a busy user's fortnight costs a few hundred rows).
    """
    if not batch:
        return []
    first_id, last_id = batch[0].id, batch[-1].id

    def in_batch(entry: Entry) -> bool:
        return first_id <= entry.id <= last_id

    findings: list[Finding] = []
    readers = sorted(
        {e.actor_id for e in batch if rules.is_signed_in(e) and rules.is_access(e.action)}
    )
    if readers:
        # The sliding hour reaches back one hour before the batch; hours before that come
        # summarised. Starting at a whole hour keeps every hour in exactly one of the two.
        split = rules.hour_bucket(min(entry.at for entry in batch)) - rules.HOUR
        since = split - timedelta(days=policy.alert_baseline_days + 1)
        recent = _recent_access(session, readers, since=split, last_id=last_id)
        history = _access_history(session, readers, since=since, until=split)
        for actor_id in readers:
            mine, before = recent.get(actor_id, []), history.get(actor_id, rules.History())
            findings += rules.bulk_reads(mine, history=before, in_batch=in_batch, policy=policy)
            findings += rules.unusual_hours(
                mine, history=before, in_batch=in_batch, policy=policy, zone=zone
            )
    findings += rules.bulk_exports(e for e in batch if rules.is_export(e.action))
    findings += _denial_findings(session, batch, in_batch, last_id, policy)
    findings += _network_findings(session, batch, policy)
    findings += rules.single_entry_findings(batch)
    return findings


# ---- Loading what the rules need --------------------------------------------------------


def _slim(entry: AuditEntry) -> Entry:
    return Entry(
        id=entry.id,
        at=entry.occurred_at,
        actor_kind=entry.actor_kind,
        actor_id=entry.actor_id,
        action=entry.action,
        target_id=entry.target_id,
        details=entry.details or {},
    )


def _access_filter() -> ColumnElement[bool]:
    """Audit actions that read customer data (``rules.is_access``), as SQL."""
    return or_(
        AuditEntry.action.in_(sorted(rules.READ_ACTIONS)),
        AuditEntry.action == "pii.export",
        AuditEntry.action.startswith("export.", autoescape=True),
    )


def _recent_access(
    session: Session, actor_ids: Sequence[str], *, since: datetime, last_id: int
) -> dict[str, list[Entry]]:
    """These users' accesses to personal data from ``since`` to the batch end, in time order."""
    rows = session.execute(
        select(*_ENTRY_COLUMNS)
        .where(
            AuditEntry.actor_kind == "user",
            AuditEntry.actor_id.in_(actor_ids),
            AuditEntry.occurred_at >= since,
            AuditEntry.id <= last_id,
            _access_filter(),
        )
        .order_by(AuditEntry.occurred_at, AuditEntry.id)
    )
    found: dict[str, list[Entry]] = defaultdict(list)
    for row in rows:
        found[row.actor_id].append(Entry(*row))
    return found


def _access_history(
    session: Session, actor_ids: Sequence[str], *, since: datetime, until: datetime
) -> dict[str, rules.History]:
    """These users' accesses in ``[since, until)``, summarised per hour (UTC) by the database."""
    if session.get_bind().dialect.name == "postgresql":
        hour: ColumnElement[Any] = func.date_trunc(
            "hour", func.timezone("UTC", AuditEntry.occurred_at)
        )
    else:  # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" in UTC
        hour = func.substr(AuditEntry.occurred_at, 1, 13)
    read_target = case(
        (
            AuditEntry.action.in_(sorted(rules.READ_ACTIONS)),
            func.coalesce(AuditEntry.target_id, cast(AuditEntry.id, String)),
        ),
        else_=None,
    )
    rows = session.execute(
        select(AuditEntry.actor_id, hour, func.count(distinct(read_target)))
        .where(
            AuditEntry.actor_kind == "user",
            AuditEntry.actor_id.in_(actor_ids),
            AuditEntry.occurred_at >= since,
            AuditEntry.occurred_at < until,
            _access_filter(),
        )
        .group_by(AuditEntry.actor_id, hour)
    )
    found: dict[str, rules.History] = defaultdict(rules.History)
    for actor_id, bucket, reads in rows:
        start = _hour_start(bucket)
        found[actor_id].active_hours.add(start)
        if reads:
            found[actor_id].reads_per_hour[start] = int(reads)
    return found


def _hour_start(bucket: datetime | str) -> datetime:
    if isinstance(bucket, str):
        return datetime.fromisoformat(f"{bucket}:00+00:00")
    return bucket.replace(tzinfo=UTC)


def _denials_of(session: Session, actor_id: str, *, since: datetime, last_id: int) -> list[Entry]:
    rows = session.execute(
        select(*_ENTRY_COLUMNS)
        .where(
            AuditEntry.action == "access.denied",
            AuditEntry.actor_kind == "user",
            AuditEntry.actor_id == actor_id,
            AuditEntry.occurred_at >= since,
            AuditEntry.id <= last_id,
        )
        .order_by(AuditEntry.occurred_at, AuditEntry.id)
    )
    return [Entry(*row) for row in rows]


def _denial_findings(
    session: Session,
    batch: Sequence[Entry],
    in_batch: EntryTest,
    last_id: int,
    policy: SecuritySettings,
) -> list[Finding]:
    denied = [entry for entry in batch if entry.action == "access.denied"]
    if not denied:
        return []
    earliest = min(entry.at for entry in denied)
    since = earliest - timedelta(minutes=policy.alert_denials_window_minutes)
    findings: list[Finding] = []
    for actor_id in sorted({e.actor_id for e in denied if rules.is_signed_in(e)}):
        timeline = _denials_of(session, actor_id, since=since, last_id=last_id)
        findings += rules.denials(
            timeline, subject=rules.user_subject(actor_id), in_batch=in_batch, policy=policy
        )
    if any(not rules.is_signed_in(entry) for entry in denied):
        # Nobody signed in: group by the client network the entry records.
        rows = session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.action == "access.denied",
                AuditEntry.actor_id.in_(("anonymous", "unknown")),
                AuditEntry.occurred_at >= since,
                AuditEntry.id <= last_id,
            )
            .order_by(AuditEntry.occurred_at, AuditEntry.id)
        )
        by_network: dict[str, list[Entry]] = defaultdict(list)
        for row in rows:
            entry = _slim(row)
            by_network[rules.network_subject(str(entry.details.get("network", "")))].append(entry)
        batch_networks = {
            rules.network_subject(str(e.details.get("network", "")))
            for e in denied
            if not rules.is_signed_in(e)
        }
        for subject in sorted(batch_networks):
            findings += rules.denials(
                by_network[subject], subject=subject, in_batch=in_batch, policy=policy
            )
    return findings


def _network_findings(
    session: Session, batch: Sequence[Entry], policy: SecuritySettings
) -> list[Finding]:
    logins: dict[str, list[Entry]] = defaultdict(list)
    for entry in batch:
        if entry.action == "login.succeeded" and rules.is_signed_in(entry):
            logins[entry.actor_id].append(entry)
    findings: list[Finding] = []
    for actor_id, mine in sorted(logins.items()):
        since = mine[0].at - timedelta(days=policy.alert_network_lookback_days)
        earlier = session.scalars(
            select(AuditEntry.details).where(
                AuditEntry.action == "login.succeeded",
                AuditEntry.actor_kind == "user",
                AuditEntry.actor_id == actor_id,
                AuditEntry.occurred_at >= since,
                AuditEntry.id < mine[0].id,
            )
        )
        known = [str((details or {}).get("network", "unknown")) for details in earlier]
        findings += rules.new_networks(mine, known=known)
    return findings


# ---- Storing findings -------------------------------------------------------------------


def _store_finding(session: Session, finding: Finding, policy: SecuritySettings) -> Alert:
    """Create the finding's alert, or merge it into the one it continues (idempotent)."""
    alert = session.scalar(select(Alert).where(Alert.dedup_key == finding.dedup_key))
    if alert is None and finding.merge_gap is not None:
        gap = finding.merge_gap
        alert = session.scalar(
            select(Alert)
            .where(
                Alert.kind == finding.kind,
                Alert.subject == finding.subject,
                Alert.window_end >= finding.window_start - gap,
                Alert.window_start <= finding.window_end + gap,
            )
            .order_by(Alert.id.desc())
            .limit(1)
        )
    if alert is None:
        evidence = rules.new_evidence(finding)
        alert = Alert(
            dedup_key=finding.dedup_key,
            kind=finding.kind,
            status="open",
            subject=finding.subject,
            actor_kind=finding.actor_kind,
            actor_id=finding.actor_id,
            window_start=finding.window_start,
            window_end=finding.window_end,
            evidence=evidence,
            severity=rules.severity(finding.kind, evidence, policy),
            summary=rules.summarise(finding.kind, evidence)[:200],
        )
        session.add(alert)
        session.flush()
        return alert
    evidence = rules.merged_evidence(alert.evidence, finding)
    if evidence != alert.evidence:
        alert.evidence = evidence
        alert.summary = rules.summarise(finding.kind, evidence)[:200]
        graded = rules.severity(finding.kind, evidence, policy)
        if rules.SEVERITY_RANK[graded] > rules.SEVERITY_RANK[alert.severity]:
            alert.severity = graded
    alert.window_start = min(alert.window_start, finding.window_start)
    alert.window_end = max(alert.window_end, finding.window_end)
    session.flush()
    return alert


def _zone(policy: SecuritySettings) -> ZoneInfo:
    try:
        return ZoneInfo(policy.alert_timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            f"unknown time zone {policy.alert_timezone!r} in security.alert_timezone"
        ) from exc
