"""Settings: one nested pydantic-settings object, read from ``CLIENTVAULT_*`` variables.

Nested sections use ``__`` as the delimiter (``CLIENTVAULT_DATABASE__URL``). Defaults are meant
for a developer's machine: outside ``env=dev`` the settings refuse to start on a default that
would be unsafe in production (an implicit SQLite file, a key file in the working directory).
``get_settings()`` is cached and injected; nothing reads the environment at import time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    Field,
    IPvAnyNetwork,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["dev", "test", "prod"]
SurvivorshipRule = Literal["verified", "source_priority", "most_recent", "most_frequent"]
#: Default survivorship rules of the golden record, per attribute.
_SURVIVORSHIP: dict[str, list[SurvivorshipRule]] = {
    "email": ["verified", "source_priority", "most_recent"],
    "phone": ["verified", "source_priority", "most_recent"],
    "first_name": ["source_priority", "most_frequent", "most_recent"],
    "last_name": ["source_priority", "most_frequent", "most_recent"],
    "street_address": ["verified", "source_priority", "most_recent"],
    "postal_code": ["verified", "source_priority", "most_recent"],
    "birth_date": ["verified", "most_frequent", "most_recent"],
}
_DEFAULT_SURVIVORSHIP: list[SurvivorshipRule] = ["most_recent"]
#: Query parameters kept in tracked URLs by default: campaign tags (``utm_*``) and navigation.
#: Ad click ids (gclid, fbclid…) are left out: they identify a click, hence a person, to the
#: ad network.
DEFAULT_URL_PARAMETERS = ("utm_*", "ref", "lang", "locale", "page", "sort", "category", "variant")


class DatabaseSettings(BaseModel):
    """Where the customer data lives."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file clientvault.db in the data directory.",
    )
    echo: bool = False
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description=(
            "FULL makes every commit durable before it returns, which is what lets ingestion "
            "acknowledge an event only once it is stored; NORMAL trades that for speed."
        ),
    )


class KeystoreSettings(BaseModel):
    """Where the per-customer data keys and the key-encryption key live."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the keystore; default: keystore.db beside the database.",
    )
    key_file: Path | None = Field(
        default=None,
        description="Key file written by `clientvault init`; default: master.key in the data dir.",
    )
    key_material: SecretStr | None = Field(
        default=None,
        description="The key file's content, for deployments that inject secrets by variable.",
    )


class ServerSettings(BaseModel):
    """How `clientvault serve` listens."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    run_consumers: bool = True
    #: Store tracking calls from a writer process of the server's own (``ingest.writer``),
    #: rather than from its worker threads, which share one GIL with everything else.
    ingest_writer_process: bool = True


class SecuritySettings(BaseModel):
    """Authentication, sessions, lock-out and MFA policy."""

    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8192)
    argon2_parallelism: int = Field(default=4, ge=1)
    session_idle_minutes: int = Field(default=30, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    mfa_required_for_all: bool = False
    account_failures_before_lockout: int = Field(
        default=5,
        ge=1,
        description="Wrong passwords for one account from one network before that network is "
        "locked out of that account (other networks are not).",
    )
    account_failures_before_backoff: int = Field(
        default=30,
        ge=1,
        description="Wrong passwords for one account from anywhere within the window before "
        "it answers only from networks it signed in from before: bounds a brute force spread "
        "over many networks without letting them lock the owner out.",
    )
    network_failures_before_block: int = Field(default=20, ge=1)
    failure_window_minutes: int = Field(default=15, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    api_token_max_days: int = Field(default=90, ge=1)
    token_session_fresh_minutes: int = Field(
        default=15,
        ge=1,
        description=(
            "A browser session creates API tokens only this long after its second factor was "
            "passed: a stolen idle session cannot mint a long-lived credential."
        ),
    )
    # Access alerts: the rules of the audit-log consumer (security.alerts).
    alert_read_floor_per_hour: int = Field(
        default=150,
        ge=1,
        description=(
            "Distinct customer profiles one user may read within an hour before an alert, "
            "whatever their history: a new account has no baseline to compare with."
        ),
    )
    alert_read_baseline_factor: float = Field(
        default=4.0,
        ge=1.0,
        description=(
            "An alert needs more reads in an hour than this many times the user's median "
            "busy hour over the baseline period (and at least the floor)."
        ),
    )
    alert_baseline_days: int = Field(default=14, ge=1, le=90)
    alert_min_history_days: int = Field(
        default=5,
        ge=1,
        description="Days of activity needed before a user's own usual hours replace the "
        "working hours.",
    )
    alert_working_hours: tuple[
        Annotated[int, Field(ge=0, le=23)], Annotated[int, Field(ge=0, le=24)]
    ] = Field(
        default=(6, 22),
        description="Start and end hour (local, end excluded; may wrap past midnight) of "
        "ordinary access when a user has too little history.",
    )
    alert_timezone: str = Field(default="UTC", description="IANA zone the hours are read in.")
    alert_denials_threshold: int = Field(default=20, ge=1)
    alert_denials_window_minutes: int = Field(default=10, ge=1)
    alert_export_high_rows: int = Field(default=1000, ge=1)
    alert_network_lookback_days: int = Field(default=90, ge=1)
    # Intrusion prevention at the application edge (http.intrusion), per process.
    intrusion_prevention: bool = True
    intrusion_window_seconds: int = Field(default=300, ge=1)
    intrusion_auth_failures: int = Field(default=30, ge=1)
    intrusion_denials: int = Field(default=30, ge=1)
    intrusion_not_found: int = Field(default=40, ge=1)
    intrusion_block_seconds: int = Field(default=900, ge=1)
    intrusion_max_tracked: int = Field(default=10_000, ge=100)
    # -- console reveal window (security.reveal_window) --
    reveal_window_minutes: int = Field(
        default=10,
        ge=1,
        le=120,
        description="Minutes a reason given in the console to see personal data holds for "
        "the same browser session (every page's reveal is still audited with it).",
    )
    # -- end console reveal window --
    admin_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Networks (CIDR) allowed to reach the admin routes; empty: no limit.",
    )


class SmtpSettings(BaseModel):
    """Outgoing e-mail (the outbox's delivery job in ``messaging.delivery``); off by default."""

    enabled: bool = Field(
        default=False, description="Deliver queued e-mail; off in dev (messages stay queued)."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    from_address: str = Field(default="privacy@clientvault.invalid", min_length=3)
    starttls: bool = Field(default=False, description="Upgrade the connection with STARTTLS.")
    ca_file: Path | None = Field(
        default=None,
        description="CA certificate(s) to verify the relay with; default: the system's.",
    )
    username: str | None = None
    password: SecretStr | None = None
    timeout_seconds: float = Field(default=10.0, gt=0)
    batch_size: int = Field(default=50, ge=1, le=1000)
    max_attempts: int = Field(default=8, ge=1, le=100)
    max_per_minute: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Sending-rate limit: e-mails handed to the SMTP server in any minute "
        "(none: as fast as batches go). Mail beyond it waits in the outbox for the next run.",
    )


class DevMailSettings(BaseModel):
    """The development mail catcher (``messaging.catcher``): only ever in ``env=dev``."""

    enabled: bool = Field(
        default=True,
        description="In dev, serve and demo catch outgoing e-mail in a local SMTP sink shown "
        "in the console's dev mailbox (unless smtp.enabled names a real relay).",
    )
    port: int = Field(
        default=8025, ge=1, le=65535, description="Loopback port of the sink (else a free one)."
    )


#: Where links in e-mails point on a developer's machine (refused in production).
DEV_PUBLIC_URL = "http://127.0.0.1:8000"


class PrivacySettings(BaseModel):
    """Data-subject requests, signed links and the public privacy pages."""

    public_url: str = Field(
        default=DEV_PUBLIC_URL,
        description="Base URL of the links put in e-mails (preference centre, verification).",
    )
    link_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key of link tokens; default: derived from the key file's index key.",
    )
    verification_link_hours: int = Field(default=24, ge=1, le=168)
    preference_link_hours: int = Field(default=72, ge=1, le=720)
    due_soon_days: int = Field(default=7, ge=1, le=30)
    deadline_check_minutes: int = Field(default=15, ge=1)
    policy_version: str = Field(
        default="1", max_length=32, description="Privacy policy version consents refer to."
    )
    controller_name: str = "clientvault"
    dpo_contact: str = "dpo@clientvault.invalid"
    url_parameters: list[str] = Field(
        default_factory=lambda: list(DEFAULT_URL_PARAMETERS),
        max_length=200,
        description="Query parameters kept in tracked URLs (names, * and ? as wildcards, any "
        "case), their values scrubbed; every other parameter is dropped (ingest.urls).",
    )


class AutomationSettings(BaseModel):
    """Journeys and marketing e-mail (``automation.journeys``)."""

    emails_per_week: int = Field(
        default=3, ge=1, le=100, description="Marketing e-mails a customer gets at most in 7 days."
    )
    quiet_hours_start: int = Field(
        default=21, ge=0, le=23, description="Hour (installation time zone) sends pause at."
    )
    quiet_hours_end: int = Field(
        default=8, ge=0, le=23, description="Hour sends resume at (equal to start: none)."
    )
    tracking_purpose: str = Field(
        default="analytics",
        max_length=64,
        description="Purpose a customer must pass for open and click tracking in e-mails.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key signing journey webhooks; default: derived from the key file.",
    )
    advance_seconds: int = Field(default=2, ge=1, le=3600, description="Due runs' check period.")
    batch_size: int = Field(default=200, ge=1, le=5000)
    newsletter_purpose: str = Field(
        default="marketing_email",
        max_length=64,
        description="Purpose a newsletter sign-up asks consent to (granted on confirmation).",
    )
    newsletter_event: str = Field(
        default="Newsletter Signed Up",
        max_length=200,
        description="Track event of a newsletter sign-up (double opt-in: a confirmation e-mail).",
    )
    optin_link_hours: int = Field(
        default=72, ge=1, le=720, description="Hours a sign-up's confirmation link works."
    )
    webhook_allowed_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        max_length=50,
        description="Private, loopback or link-local networks (CIDR) journey webhooks may "
        "call anyway; by default every address of a webhook's host must be public.",
    )


class RetentionSettings(BaseModel):
    """How long personal data is kept (``privacy.retention``) and how erasure treats events."""

    enabled: bool = Field(default=True, description="Run the retention purge in the worker.")
    inactive_customer_months: int | None = Field(
        default=36,
        ge=1,
        description="Erase customers with no activity for this many months, counted from their "
        "last activity: profile created or updated, latest event or order (None: never).",
    )
    holder_months: dict[str, int] = Field(
        default_factory=lambda: {"ingest.events": 25, "ingest.orders": 120, "support.tickets": 36},
        description="Months each personal-data holder keeps its rows (by holder name): events "
        "from when they were received, orders from their order date, closed support tickets "
        "from their resolution.",
    )
    max_customers_per_run: int = Field(default=500, ge=1, le=100_000)
    interval_minutes: int = Field(default=60, ge=1, description="Minutes between purges.")
    erasure_mode: Literal["anonymise", "delete"] = Field(
        default="anonymise",
        description="On erasure, anonymise events and orders (aggregates kept, no link to the "
        "person) or delete them.",
    )


class AuditSettings(BaseModel):
    """Where signed checkpoints of the audit chain's head are shipped (``security.audit``)."""

    checkpoint_dir: Path | None = Field(
        default=None,
        description="Directory the signed checkpoints are appended to (audit-checkpoints.jsonl), "
        "ideally on another disk or a mount the database's administrators cannot write; "
        "`audit verify` checks the chain against them. None: no checkpoints.",
    )
    checkpoint_syslog: str | None = Field(
        default=None,
        pattern=r"^(/\S+|[A-Za-z0-9.\-]+:[0-9]{1,5}|\[[0-9A-Fa-f:]+\]:[0-9]{1,5})$",
        description="Also send each checkpoint to syslog: a socket path (/dev/log) or host:port "
        "(UDP), for a collector off the machine.",
    )
    checkpoint_minutes: int = Field(
        default=60, ge=1, description="Minutes between checkpoints taken by the worker."
    )


class IdentitySettings(BaseModel):
    """Identity resolution: the identity graph's deterministic stitching rules
    (identity.graph) and probabilistic matching's thresholds and limits (identity.matching)."""

    blocked_values: list[str] = Field(
        default_factory=lambda: ["test@example.com", "0000000000", "null", "undefined"],
        description="Identifier values (any kind) that never link or resolve a profile: "
        "placeholders typed into forms or sent by broken clients.",
    )
    priority: list[str] = Field(
        default_factory=lambda: [
            "user_id",
            "external_id",
            "email",
            "phone",
            "device_id",
            "anonymous_id",
        ],
        description="When a call's identifiers name different profiles, the first kind here "
        "decides; kinds not listed come last.",
    )
    max_customers_per_value: dict[str, int] = Field(
        default_factory=lambda: {
            "user_id": 1,
            "external_id": 1,
            "email": 3,
            "phone": 3,
            "device_id": 5,
            "anonymous_id": 5,
        },
        description="An identifier value linked to more profiles than this (a shared family "
        "e-mail, a kiosk's device) stops resolving to any of them: it no longer chains people.",
    )
    default_max_customers_per_value: int = Field(default=3, ge=1)
    max_values_per_customer: dict[str, int] = Field(
        default_factory=lambda: {"user_id": 1},
        description="A profile holding this many values of a kind is not stitched to a call "
        "bringing another one (a second user id means a second person).",
    )
    source_priority: list[str] = Field(
        default_factory=list,
        description="Golden record: sources in order of trust (first wins) for attributes "
        "whose rules include source_priority; unlisted sources come last.",
    )
    survivorship: dict[str, list[SurvivorshipRule]] = Field(
        default_factory=lambda: {k: list(v) for k, v in _SURVIVORSHIP.items()},
        description="Golden record: per attribute, the rules that pick the surviving value, "
        "each narrowing the candidates of the one before (ties end with the most recent).",
    )
    default_survivorship: list[SurvivorshipRule] = Field(
        default_factory=lambda: list(_DEFAULT_SURVIVORSHIP),
        description="Rules of attributes (and traits) not named in survivorship.",
    )
    auto_merge_probability: float = Field(
        default=0.99,
        gt=0,
        lt=1,
        description="Probabilistic matching: from this match probability two profiles are "
        "merged without review (batch job; incremental matches use the thresholds stored "
        "with the model they score with).",
    )
    review_probability: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        description="Probabilistic matching: from this match probability up to the "
        "automatic threshold a pair is queued for review; below it, it is ignored.",
    )
    matching_memory_limit: str = Field(
        default="4GB",
        pattern=r"^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="Batch matching: memory cap of its in-memory DuckDB database (which never "
        "spills decrypted data to disk: a job needing more fails instead). A cap, not a "
        "reservation: 100k demo profiles stay under 1 GB; 1M need more than 2GB.",
    )
    matching_threads: int = Field(
        default=2, ge=1, le=64, description="Batch matching: DuckDB worker threads."
    )

    @model_validator(mode="after")
    def _review_below_auto_merge(self) -> IdentitySettings:
        if not self.review_probability < self.auto_merge_probability:
            raise ValueError("identity.review_probability must be below auto_merge_probability")
        return self


class SupportSettings(BaseModel):
    """Customer support: SLA targets in business hours, re-assignment, CSAT surveys and the
    chatbot's confidence threshold (clientvault.support)."""

    first_response_hours: dict[str, float] = Field(
        default_factory=lambda: {"urgent": 1.0, "high": 4.0, "normal": 8.0, "low": 24.0},
        description="First-response target per priority, in business hours.",
    )
    resolution_hours: dict[str, float] = Field(
        default_factory=lambda: {"urgent": 8.0, "high": 24.0, "normal": 40.0, "low": 80.0},
        description="Resolution target per priority, in business hours.",
    )
    warn_before_share: float = Field(
        default=0.2, gt=0, lt=1, description="Warn when this share of a target is left."
    )
    business_start_hour: int = Field(default=9, ge=0, le=23)
    business_end_hour: int = Field(default=18, ge=1, le=24)
    business_weekdays: str = Field(
        default="12345", pattern=r"^[1-7]{1,7}$", description="ISO weekdays of the calendar."
    )
    reassign_after_minutes: int = Field(
        default=60,
        ge=5,
        description="A ticket waiting for its agent's first answer this long, while the agent "
        "is inactive or off shift, goes back to routing.",
    )
    csat_survey_days: int = Field(
        default=7, ge=0, description="At most one CSAT survey e-mail per customer this often."
    )
    chat_log_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="Days the chatbot's question log (scrubbed unanswered questions) is kept.",
    )
    chatbot_threshold: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="Below this retrieval confidence the chatbot hands over to a human.",
    )


class SegmentsSettings(BaseModel):
    """Segments (``clientvault.segments``): k-anonymity of counts and membership refreshes."""

    min_group_size: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description="Counts below this are shown as '< N' to roles without pii:reveal, and "
        "such a segment cannot be exported by them.",
    )
    estimate_sample: int = Field(
        default=10_000,
        ge=10,
        le=1_000_000,
        description="Profiles the builder's quick estimate evaluates a rule on (the exact "
        "count follows it); where there are fewer than twice as many, the count is exact "
        "at once. Larger is closer and slower.",
    )
    refresh_minutes: int = Field(
        default=15, ge=1, description="Minutes between re-evaluations of dynamic segments."
    )
    traits_minutes: int = Field(
        default=60, ge=1, description="Minutes between full recomputes of computed traits."
    )


class AnalyticsSettings(BaseModel):
    """Analytics (clientvault.analytics): what aggregate dashboards may show."""

    min_group_size: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Groups of fewer people (a cohort, a breakdown value, a heatmap cell) are "
        "suppressed from dashboards, CSV exports and the analytics API.",
    )


# ---- backup (clientvault.backup) ---------------------------------------------------------


class BackupTargetSettings(BaseModel):
    """One place backups are copied to: a local directory (a second disk, a NAS mount) or an
    S3-compatible bucket (``endpoint_url``, ``bucket``, ``prefix``, credentials)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    kind: Literal["local", "s3"] = "local"
    path: Path | None = Field(default=None, description="Directory of a local target.")
    endpoint_url: str | None = Field(default=None, description="S3 endpoint; None: AWS.")
    bucket: str | None = None
    prefix: str = Field(default="clientvault", pattern=r"^[A-Za-z0-9._/-]{0,200}$")
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    object_lock_days: int | None = Field(
        default=None,
        ge=1,
        description="Object-lock retention (COMPLIANCE) set on each object, where the bucket "
        "supports it: an attacker with the credentials cannot delete a backup before then.",
    )

    @model_validator(mode="after")
    def _complete(self) -> BackupTargetSettings:
        if self.kind == "local" and self.path is None:
            raise ValueError(f"backup target {self.name!r}: a local target needs a path")
        if self.kind == "s3" and not self.bucket:
            raise ValueError(f"backup target {self.name!r}: an s3 target needs a bucket")
        return self


class BackupRetention(BaseModel):
    """How many backups to keep: the newest of each of the last N days, weeks and months."""

    daily: int = Field(default=7, ge=0, le=366)
    weekly: int = Field(default=4, ge=0, le=520)
    monthly: int = Field(default=6, ge=0, le=240)


class BackupSettings(BaseModel):
    """Encrypted backups of the data database and of the keystore (``clientvault.backup``)."""

    targets: list[BackupTargetSettings] = Field(
        default_factory=list,
        description="Targets of data backups; none: the directory backups/data in the data dir.",
    )
    keystore_targets: list[BackupTargetSettings] = Field(
        default_factory=list,
        description="Targets of keystore backups, kept apart from the data's; none: the "
        "directory backups/keystore in the data dir.",
    )
    copies_required: int | None = Field(
        default=None, ge=1, description="Targets a backup must reach to count; None: all."
    )
    retention: BackupRetention = BackupRetention()
    keystore_retention: BackupRetention = Field(
        default_factory=lambda: BackupRetention(daily=7, weekly=0, monthly=0),
        description="Short on purpose: a data key destroyed by an erasure is gone from every "
        "backup once the keystore backups older than the erasure are pruned.",
    )
    key_file: Path | None = Field(
        default=None, description="The backup key file; default: backup.key in the data dir."
    )
    extra_recipients: list[str] = Field(
        default_factory=list,
        description="More age public keys (age1...) every backup is encrypted to, such as an "
        "operator's offline key: `age -d -i offline.key` then opens a backup without us.",
    )
    chunk_mib: int = Field(default=8, ge=1, le=256, description="Plaintext MiB per chunk.")
    schedule: str = Field(default="daily at 02:00", description="When the worker backs up.")
    drill_schedule: str = Field(
        default="daily at 04:00",
        description="When the worker considers a drill: it runs one if the last is older than "
        "drill_every_days (weekly by default).",
    )
    drill_every_days: int = Field(default=7, ge=1, le=90)
    health_schedule: str = Field(
        default="daily at 06:00",
        description="When the worker probes targets and raises overdue alerts (also after "
        "each scheduled backup).",
    )
    enabled: bool = Field(default=True, description="Run backups and drills in the worker.")
    drill_url: str | None = Field(
        default=None,
        description="An empty PostgreSQL database drills restore into (PostgreSQL only; "
        "SQLite drills use a scratch file).",
    )
    backup_max_age_hours: int = Field(default=26, ge=1, description="Alert past this age.")
    drill_max_age_days: int = Field(default=8, ge=1, description="Alert past this age.")
    scratch_dir: Path | None = Field(
        default=None, description="Working files; default: backup-scratch in the data dir."
    )
    task_retention_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Records of restores, drills and verifications asked for from the console "
        "or the API are deleted this many days after they ended (never while one runs).",
    )
    task_prune_schedule: str = Field(
        default="daily at 05:00", description="When the worker deletes those old task records."
    )


class Settings(BaseSettings):
    """All of clientvault's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="CLIENTVAULT_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    env: Environment = "dev"
    data_dir: Path = Path("var/clientvault")
    default_phone_region: str = Field(default="FR", min_length=2, max_length=2)
    timezone: str = Field(
        default="UTC",
        max_length=64,
        description="IANA time zone of the installation: scheduled jobs' times of day "
        "('daily at 03:00') are read in it.",
    )
    database: DatabaseSettings = DatabaseSettings()
    keystore: KeystoreSettings = KeystoreSettings()
    server: ServerSettings = ServerSettings()
    security: SecuritySettings = SecuritySettings()
    smtp: SmtpSettings = SmtpSettings()
    dev_mail: DevMailSettings = DevMailSettings()
    privacy: PrivacySettings = PrivacySettings()
    retention: RetentionSettings = RetentionSettings()
    identity: IdentitySettings = IdentitySettings()
    audit: AuditSettings = AuditSettings()
    support: SupportSettings = SupportSettings()
    segments: SegmentsSettings = SegmentsSettings()
    analytics: AnalyticsSettings = AnalyticsSettings()
    automation: AutomationSettings = AutomationSettings()
    backup: BackupSettings = BackupSettings()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name: Europe/Paris)") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The installation's time zone."""
        return ZoneInfo(self.timezone)

    @model_validator(mode="after")
    def _refuse_dev_defaults_outside_dev(self) -> Settings:
        if self.env == "dev":
            return self
        missing = []
        if self.database.url is None:
            missing.append("CLIENTVAULT_DATABASE__URL")
        if self.keystore.key_file is None and self.keystore.key_material is None:
            missing.append("CLIENTVAULT_KEYSTORE__KEY_FILE or CLIENTVAULT_KEYSTORE__KEY_MATERIAL")
        if self.privacy.public_url == DEV_PUBLIC_URL:
            missing.append("CLIENTVAULT_PRIVACY__PUBLIC_URL")  # e-mailed links would be local
        if missing and self.env == "prod":
            raise ValueError(f"env=prod refuses development defaults; set {', '.join(missing)}")
        return self

    @property
    def database_url(self) -> str:
        """The main database URL, defaulting to a SQLite file in the data directory."""
        return self.database.url or f"sqlite:///{self.data_dir / 'clientvault.db'}"

    @property
    def keystore_url(self) -> str:
        """The keystore URL, defaulting to its own SQLite file beside the main database."""
        return self.keystore.url or f"sqlite:///{self.data_dir / 'keystore.db'}"

    @property
    def key_file(self) -> Path:
        """Path of the key file holding the key-encryption and blind-index keys."""
        return self.keystore.key_file or self.data_dir / "master.key"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
