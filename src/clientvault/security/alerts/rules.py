"""The rules of the access alerts, as pure functions over slim views of audit entries.

No database here: ``security.alerts`` loads each subject's recent entries, asks these rules
what they find in the current batch, and stores the findings. Every rule looks only at
entries up to the end of the batch and derives its finding's key from those entries, so
running it twice over the same log finds the same thing (the store then merges, never
duplicates).

The rules and why:

* ``bulk_read`` — a user reads far more distinct customer profiles within an hour than their
  own median busy hour over the baseline period, and at least an absolute floor (a new account
  has no baseline). The curious or phished employee.
* ``bulk_export`` — any export of identifiers in bulk: rare, and the data leaves the system.
* ``unusual_hours`` — personal data read outside the hours the user usually works (learnt from
  their history), or outside configured working hours while they have too little history.
* ``denials`` — many refusals for one account (or one network, when nobody is signed in)
  within a window: someone exploring what they may not see.
* ``new_network`` — a sign-in from a network the account has not used recently.
* ``mfa_replay`` — a one-time code presented twice: somebody else holds the user's codes.
* ``client_blocked`` — the edge blocked a client address (``http.intrusion``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Literal

from clientvault.settings import SecuritySettings

Severity = Literal["low", "medium", "high"]
SEVERITY_RANK: Mapping[str, int] = {"low": 0, "medium": 1, "high": 2}

#: Reading one customer's profile (decrypted identifiers, or the 360° view).
READ_ACTIONS = frozenset({"pii.reveal", "customer.viewed"})
#: How many entry ids an alert keeps as a sample of its evidence.
SAMPLE_SIZE = 25
HOUR = timedelta(hours=1)


def is_export(action: str) -> bool:
    """Whether an audit action is an export of customer data."""
    return action == "pii.export" or action.startswith("export.")


def is_access(action: str) -> bool:
    """Whether an audit action reads customer data (what the hour rule watches)."""
    return action in READ_ACTIONS or is_export(action)


@dataclass(frozen=True)
class Entry:
    """The part of an audit entry the rules look at."""

    id: int
    at: datetime
    actor_kind: str
    actor_id: str
    action: str
    target_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


#: Whether an entry belongs to the batch being handled (only those may raise alerts).
EntryTest = Callable[["Entry"], bool]


@dataclass
class Finding:
    """What a rule found: one alert to create, or to merge into one raised before.

    ``merge_gap``: for episodes (bursts of reads or denials), an existing alert of the same
    kind and subject whose window lies within this gap is the same episode, continued.
    """

    kind: str
    dedup_key: str
    subject: str
    actor_kind: str
    actor_id: str
    window_start: datetime
    window_end: datetime
    entry_ids: list[int]
    facts: dict[str, Any] = field(default_factory=dict)
    merge_gap: timedelta | None = None


def network_of(address: str) -> str:
    """The network an address belongs to: /24 for IPv4, /48 for IPv6 (non-addresses as is).

    Coarse on purpose: a home or office connection changes its last octet often enough that
    comparing exact addresses would cry wolf.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def network_subject(address: str) -> str:
    """An alert subject for a client network that names it without storing the address."""
    digest = hashlib.sha256(network_of(address).encode()).hexdigest()[:16]
    return f"network:{digest}"


def user_subject(actor_id: str) -> str:
    """An alert subject for a staff account."""
    return f"user:{actor_id}"


def is_signed_in(entry: Entry) -> bool:
    """Whether an entry was written for a known staff account (not anonymous, not a job)."""
    return entry.actor_kind == "user" and entry.actor_id not in ("anonymous", "unknown")


# ---- Sliding-window episodes ------------------------------------------------------------


@dataclass
class Episode:
    """A run of entries during which a windowed count stayed at or above its threshold."""

    start: datetime
    end: datetime
    entry_ids: list[int]
    peak: int
    threshold: int


def episodes(
    timeline: Sequence[Entry],
    *,
    in_batch: EntryTest,
    window: timedelta,
    threshold_for: Callable[[Entry], int],
    distinct: Callable[[Entry], str] | None = None,
) -> list[Episode]:
    """Episodes where the count within ``window`` ending at a batch entry reaches its threshold.

    ``timeline`` is one subject's entries in time order, history included; only entries of the
    batch may open or extend an episode, but the window reaches back into history. With
    ``distinct``, the count is of distinct keys (profiles) rather than entries.
    """
    found: list[Episode] = []
    current: Episode | None = None
    keys: Counter[str] = Counter()
    left = 0
    added = 0  # timeline[:added] is already in an episode or was never inside one
    for right, entry in enumerate(timeline):
        keys[distinct(entry) if distinct else str(entry.id)] += 1
        while timeline[left].at <= entry.at - window:
            old = distinct(timeline[left]) if distinct else str(timeline[left].id)
            keys[old] -= 1
            if not keys[old]:
                del keys[old]
            left += 1
        if not in_batch(entry):
            continue
        count, threshold = len(keys), threshold_for(entry)
        if count < threshold:
            continue
        if current is not None and entry.at - current.end < window:
            current.end = entry.at
            current.peak = max(current.peak, count)
        else:
            current = Episode(timeline[left].at, entry.at, [], count, threshold)
            found.append(current)
        # The window only moves forward: add what entered it since the last qualifying entry.
        current.entry_ids.extend(member.id for member in timeline[max(left, added) : right + 1])
        added = right + 1
    return found


def episode_finding(
    kind: str,
    subject: str,
    actor: Entry,
    episode: Episode,
    *,
    facts: dict[str, Any],
    merge_gap: timedelta,
) -> Finding:
    """The finding for one episode of ``kind`` by ``actor``'s account or network.

    Its dedup key is the kind, the subject and the episode's first entry."""
    return Finding(
        kind=kind,
        dedup_key=f"{kind}:{subject}:{episode.entry_ids[0]}",
        subject=subject,
        actor_kind=actor.actor_kind,
        actor_id=actor.actor_id,
        window_start=episode.start,
        window_end=episode.end,
        entry_ids=episode.entry_ids,
        facts=facts,
        merge_gap=merge_gap,
    )


# ---- Rules ------------------------------------------------------------------------------


def hour_bucket(moment: datetime) -> datetime:
    """The start of the clock hour a moment falls in."""
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class History:
    """One user's earlier access, summarised by hour (UTC) so that it is cheap to load.

    ``reads_per_hour``: distinct profiles read in each hour that had reads; ``active_hours``:
    every hour with any access to personal data (reads or exports).
    """

    reads_per_hour: dict[datetime, int] = field(default_factory=dict)
    active_hours: set[datetime] = field(default_factory=set)

    def including(self, recent: Sequence[Entry]) -> History:
        """This history with the hours of ``recent`` entries (which it must not overlap)."""
        reads: dict[datetime, set[str]] = defaultdict(set)
        active = set(self.active_hours)
        for entry in recent:
            bucket = hour_bucket(entry.at)
            active.add(bucket)
            if entry.action in READ_ACTIONS:
                reads[bucket].add(entry.target_id or f"#{entry.id}")
        counts = dict(self.reads_per_hour)
        counts.update((bucket, len(targets)) for bucket, targets in reads.items())
        return History(counts, active)


class ReadBaseline:
    """A user's median busy hour (distinct profiles read) over the baseline period.

    Only hours with at least one read count: most hours of anyone's fortnight are empty, and
    a median of zeros would make every user look new.
    """

    def __init__(self, reads_per_hour: Mapping[datetime, int], days: int) -> None:
        self._counts = sorted(reads_per_hour.items())
        self._period = timedelta(days=days)
        self._cache: dict[datetime, float] = {}

    def median_before(self, moment: datetime) -> float:
        """The median busy hour in the period before the hour of ``moment`` (0: no history)."""
        bucket = hour_bucket(moment)
        if bucket not in self._cache:
            since = bucket - self._period
            counts = [count for at, count in self._counts if since <= at < bucket]
            self._cache[bucket] = statistics.median(counts) if counts else 0.0
        return self._cache[bucket]


def bulk_reads(
    recent: Sequence[Entry],
    *,
    history: History,
    in_batch: EntryTest,
    policy: SecuritySettings,
) -> list[Finding]:
    """Hours in which one user read many more distinct profiles than they usually do.

    ``recent``: the user's entries from at least an hour before the batch to its end, in time
    order; ``history``: their hours before that.
    """
    reads = [entry for entry in recent if entry.action in READ_ACTIONS]
    if not any(in_batch(read) for read in reads):
        return []
    baseline = ReadBaseline(history.including(reads).reads_per_hour, policy.alert_baseline_days)

    def threshold_for(entry: Entry) -> int:
        median = baseline.median_before(entry.at)
        floor = policy.alert_read_floor_per_hour
        return max(floor, int(policy.alert_read_baseline_factor * median) + 1)

    first = reads[0]
    subject = user_subject(first.actor_id)
    findings = []
    for episode in episodes(
        reads,
        in_batch=in_batch,
        window=HOUR,
        threshold_for=threshold_for,
        distinct=lambda entry: entry.target_id or f"#{entry.id}",
    ):
        findings.append(
            episode_finding(
                "bulk_read",
                subject,
                first,
                episode,
                facts={
                    "peak_profiles_per_hour": episode.peak,
                    "threshold": episode.threshold,
                    "baseline_median_per_hour": baseline.median_before(episode.start),
                },
                merge_gap=HOUR,
            )
        )
    return findings


def unusual_hours(
    recent: Sequence[Entry],
    *,
    history: History,
    in_batch: EntryTest,
    policy: SecuritySettings,
    zone: tzinfo,
) -> list[Finding]:
    """Days on which a user read personal data at hours they do not usually work.

    With at least ``alert_min_history_days`` active days in the baseline period, the usual
    hours are those the user was active in (widened by an hour either side); before that,
    the configured working hours stand in. Hours are local to ``zone``.
    """
    accesses = [entry for entry in recent if is_access(entry.action)]
    if not any(in_batch(entry) for entry in accesses):
        return []
    active: dict[date, set[int]] = defaultdict(set)
    for bucket in history.including(accesses).active_hours:
        moment = bucket.astimezone(zone)
        active[moment.date()].add(moment.hour)
    period = timedelta(days=policy.alert_baseline_days)
    start, end = policy.alert_working_hours

    def usual_hours(day: date) -> tuple[set[int], str]:
        days = [d for d in active if day - period <= d < day]
        if len(days) < policy.alert_min_history_days:
            if start == end:  # no working hours configured: around the clock
                return set(range(24)), "working_hours"
            hours = range(start, end) if start < end else [*range(start, 24), *range(0, end)]
            return set(hours), "working_hours"
        seen = set().union(*(active[d] for d in days))
        return {(hour + shift) % 24 for hour in seen for shift in (-1, 0, 1)}, "own_history"

    by_day: dict[date, list[tuple[Entry, datetime, str]]] = defaultdict(list)
    cache: dict[date, tuple[set[int], str]] = {}
    for entry in accesses:
        if not in_batch(entry):
            continue
        moment = entry.at.astimezone(zone)
        day = moment.date()
        if day not in cache:
            cache[day] = usual_hours(day)
        usual, basis = cache[day]
        if moment.hour not in usual:
            by_day[day].append((entry, moment, basis))
    findings = []
    first = accesses[0]
    subject = user_subject(first.actor_id)
    for day, odd in by_day.items():
        findings.append(
            Finding(
                kind="unusual_hours",
                dedup_key=f"unusual_hours:{subject}:{day.isoformat()}",
                subject=subject,
                actor_kind=first.actor_kind,
                actor_id=first.actor_id,
                window_start=odd[0][0].at,
                window_end=odd[-1][0].at,
                entry_ids=[entry.id for entry, _, _ in odd],
                facts={
                    "local_hours": sorted({moment.hour for _, moment, _ in odd}),
                    "basis": odd[0][2],
                    "timezone": str(zone),
                },
            )
        )
    return findings


def bulk_exports(entries: Iterable[Entry]) -> list[Finding]:
    """One finding per export operation (an export writes one entry per customer, all with
    the same time, so actor, action and time identify the operation)."""
    operations: dict[tuple[str, str, str, datetime], list[Entry]] = defaultdict(list)
    for entry in entries:
        if is_export(entry.action):
            operations[(entry.actor_kind, entry.actor_id, entry.action, entry.at)].append(entry)
    findings = []
    for (actor_kind, actor_id, action, at), group in operations.items():
        subject = f"{actor_kind}:{actor_id}"
        rows = [entry.details.get("rows") for entry in group]
        declared = max((row for row in rows if isinstance(row, int)), default=0)
        findings.append(
            Finding(
                kind="bulk_export",
                dedup_key=f"bulk_export:{subject}:{action}:{at.isoformat()}",
                subject=subject,
                actor_kind=actor_kind,
                actor_id=actor_id,
                window_start=at,
                window_end=at,
                entry_ids=[entry.id for entry in group],
                facts={"action": action, **({"declared_rows": declared} if declared else {})},
            )
        )
    return findings


def denials(
    timeline: Sequence[Entry],
    *,
    subject: str,
    in_batch: EntryTest,
    policy: SecuritySettings,
) -> list[Finding]:
    """Bursts of refused requests by one account or from one network."""
    window = timedelta(minutes=policy.alert_denials_window_minutes)
    threshold = policy.alert_denials_threshold
    first = timeline[0] if timeline else None
    findings = []
    for episode in episodes(
        timeline, in_batch=in_batch, window=window, threshold_for=lambda _: threshold
    ):
        assert first is not None
        findings.append(
            episode_finding(
                "denials",
                subject,
                first,
                episode,
                facts={
                    "peak_in_window": episode.peak,
                    "threshold": threshold,
                    "window_minutes": policy.alert_denials_window_minutes,
                },
                merge_gap=window,
            )
        )
    return findings


def new_networks(logins: Sequence[Entry], *, known: Iterable[str]) -> list[Finding]:
    """Sign-ins of one account from a network none of its earlier sign-ins came from.

    ``known`` are the networks of the account's sign-ins before the batch; an account that
    never signed in before has nothing to compare with and raises nothing.
    """
    seen = {network_of(address) for address in known}
    findings = []
    for login in logins:
        network = network_of(str(login.details.get("network", "unknown")))
        if seen and network not in seen:
            subject = user_subject(login.actor_id)
            findings.append(
                Finding(
                    kind="new_network",
                    dedup_key=f"new_network:{subject}:{login.id}",
                    subject=subject,
                    actor_kind=login.actor_kind,
                    actor_id=login.actor_id,
                    window_start=login.at,
                    window_end=login.at,
                    entry_ids=[login.id],
                    facts={"known_networks": len(seen)},
                )
            )
        seen.add(network)
    return findings


def single_entry_findings(entries: Iterable[Entry]) -> list[Finding]:
    """Entries that are alerts on their own: a replayed one-time code, a blocked client."""
    findings = []
    for entry in entries:
        if entry.action == "mfa.replay_refused":
            subject = user_subject(entry.actor_id)
            kind, facts = "mfa_replay", {}
        elif entry.action == "intrusion.blocked":
            subject = network_subject(str(entry.details.get("network", "unknown")))
            kind = "client_blocked"
            facts = {
                "reason": str(entry.details.get("reason", "")),
                "failures": entry.details.get("failures", 0),
                "blocked_seconds": entry.details.get("seconds", 0),
            }
        else:
            continue
        findings.append(
            Finding(
                kind=kind,
                dedup_key=f"{kind}:{entry.id}",
                subject=subject,
                actor_kind=entry.actor_kind,
                actor_id=entry.actor_id,
                window_start=entry.at,
                window_end=entry.at,
                entry_ids=[entry.id],
                facts=facts,
            )
        )
    return findings


# ---- Evidence, severity and wording -----------------------------------------------------

#: Facts that only grow as an episode continues (merged with ``max``).
_PEAK_FACTS = frozenset({"peak_profiles_per_hour", "peak_in_window", "declared_rows"})


def new_evidence(finding: Finding) -> dict[str, Any]:
    """The evidence of a new alert: counts, entry ids and the rule's facts (never PII)."""
    ids = sorted(finding.entry_ids)
    return {
        "entries": len(ids),
        "first_entry_id": ids[0],
        "last_entry_id": ids[-1],
        "sample_entry_ids": ids[:SAMPLE_SIZE],
        **finding.facts,
    }


def merged_evidence(evidence: Mapping[str, Any], finding: Finding) -> dict[str, Any]:
    """An alert's evidence after a finding of the same alert (a later batch, or a replay).

    Entries between the first and last already counted are never counted again, which is
    what makes a replay leave the evidence as it was.
    """
    first, last = int(evidence["first_entry_id"]), int(evidence["last_entry_id"])
    fresh = sorted(i for i in set(finding.entry_ids) if i < first or i > last)
    merged = dict(evidence)
    merged["entries"] = int(evidence["entries"]) + len(fresh)
    if fresh:
        merged["first_entry_id"] = min(first, fresh[0])
        merged["last_entry_id"] = max(last, fresh[-1])
        merged["sample_entry_ids"] = sorted({*evidence["sample_entry_ids"], *fresh})[:SAMPLE_SIZE]
    for key, value in finding.facts.items():
        if key in _PEAK_FACTS:
            merged[key] = max(merged.get(key, value), value)
        elif isinstance(value, list):
            merged[key] = sorted({*merged.get(key, []), *value})
        else:
            merged.setdefault(key, value)
    return merged


def severity(kind: str, evidence: Mapping[str, Any], policy: SecuritySettings) -> Severity:
    """How urgent an alert is, from its kind and evidence."""
    if kind == "bulk_read":
        return (
            "high" if evidence["peak_profiles_per_hour"] >= 2 * evidence["threshold"] else "medium"
        )
    if kind == "bulk_export":
        return "high" if export_records(evidence) >= policy.alert_export_high_rows else "medium"
    if kind == "denials":
        return "high" if evidence["peak_in_window"] >= 3 * evidence["threshold"] else "medium"
    if kind == "mfa_replay":
        return "high"
    if kind == "unusual_hours":
        return "low"
    return "medium"


def export_records(evidence: Mapping[str, Any]) -> int:
    """How many records an export alert covers (entries, or the rows the entry declares)."""
    return max(int(evidence["entries"]), int(evidence.get("declared_rows", 0)))


def summarise(kind: str, evidence: Mapping[str, Any]) -> str:
    """One line saying what happened, with counts only (fits the 200-character column)."""
    if kind == "bulk_read":
        return (
            f"{evidence['peak_profiles_per_hour']} distinct profiles read within an hour "
            f"(alert from {evidence['threshold']}; usual busy hour "
            f"{evidence['baseline_median_per_hour']:g}); {evidence['entries']} reads in all"
        )
    if kind == "bulk_export":
        return f"export of {export_records(evidence)} records ({evidence['action']})"
    if kind == "unusual_hours":
        hours = ", ".join(f"{hour:02d}h" for hour in evidence["local_hours"])
        basis = "usual hours" if evidence["basis"] == "own_history" else "working hours"
        return f"{evidence['entries']} reads of personal data outside {basis} ({hours})"
    if kind == "denials":
        return (
            f"{evidence['peak_in_window']} refused requests within "
            f"{evidence['window_minutes']} minutes; {evidence['entries']} in all"
        )
    if kind == "new_network":
        return f"sign-in from a network not among the {evidence['known_networks']} used before"
    if kind == "mfa_replay":
        return "a one-time code was presented again: someone else may hold the user's codes"
    if kind == "client_blocked":
        return (
            f"client network blocked for {evidence['blocked_seconds']} s after "
            f"{evidence['failures']} {evidence['reason']}"
        )
    return kind
