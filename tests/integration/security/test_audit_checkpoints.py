"""Signed checkpoints of the audit chain's head: shipped to a directory (and syslog), checked
by ``verify`` by default, so that cutting off the newest entries is caught and a checkpoint
not signed by the installation is refused."""

from __future__ import annotations

import base64
import json
import socket
import stat
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from clientvault.automation.worker import Worker
from clientvault.domains import CONSUMERS, JOBS
from clientvault.errors import ConfigurationError
from clientvault.security import audit, audit_checkpoints, signing
from clientvault.security.audit_checkpoints import FILE_NAME
from clientvault.security.models import AuditEntry
from clientvault.security.principal import Principal
from clientvault.settings import AuditSettings, Settings
from clientvault.store.context import Store
from support.audit_tampering import Tamperer


@pytest.fixture
def offsite(tmp_path: Path) -> AuditSettings:
    """Checkpoints to a directory of their own (another disk, in production)."""
    directory = tmp_path / "offsite"
    directory.mkdir()
    return AuditSettings(checkpoint_dir=directory)


def _fill(db: Store, count: int = 8) -> list[int]:
    for i in range(count):
        with db.sessions.begin() as session:
            audit.record(
                session,
                principal=Principal.system("test"),
                action="pii.reveal" if i % 2 else "export.created",
                target_type="customer",
                target_ids=[str(uuid.uuid4())],
                reason=f"case {i}",
            )
    with db.read_sessions() as session:
        return list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))


def _lines(settings: AuditSettings) -> list[dict[str, object]]:
    assert settings.checkpoint_dir is not None
    text = (settings.checkpoint_dir / FILE_NAME).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def _verify(db: Store, settings: AuditSettings) -> audit.Verification:
    with db.read_sessions() as session:
        return audit_checkpoints.verify(db, session, settings)


def test_checkpoints_are_signed_appended_and_checked(db: Store, offsite: AuditSettings) -> None:
    ids = _fill(db, 3)
    first = audit_checkpoints.take(db, offsite)
    ids += _fill(db, 2)[3:]
    second = audit_checkpoints.take(db, offsite)

    assert (first.entry_id, second.entry_id) == (ids[2], ids[-1])
    lines = _lines(offsite)
    assert [line["checkpoint"] for line in lines] == [first.document(), second.document()]
    public = signing.public_key_pem(db)
    for line in lines:  # anyone with the published key can check them offline
        assert signing.verify(line["checkpoint"], str(line["signature"]), public)  # type: ignore[arg-type]
    assert offsite.checkpoint_dir is not None
    assert stat.S_IMODE((offsite.checkpoint_dir / FILE_NAME).stat().st_mode) == 0o600

    result = _verify(db, offsite)
    assert result.ok, result
    assert (result.entries, result.checkpoints) == (len(ids), 2)


@pytest.mark.parametrize("cut", [1, 3])
def test_cutting_off_the_newest_entries_is_caught_by_the_checkpoint(
    db: Store, tamper: Callable[[], Tamperer], offsite: AuditSettings, cut: int
) -> None:
    ids = _fill(db)
    checkpoint = audit_checkpoints.take(db, offsite)
    copy = tamper()
    copy.execute("DELETE FROM audit_log WHERE id >= :a", a=ids[-cut])

    assert copy.verify().ok  # what is left is a valid keyed chain on its own...
    with copy.session() as session:
        result = audit_checkpoints.verify(db, session, offsite)
    assert not result.ok  # ...which ends before the signed checkpoint's entry
    assert (result.broken_at, result.problem) == (None, audit.CUT_OFF)
    assert result.entries == len(ids) - cut
    assert checkpoint.entry_id == ids[-1]


def test_a_chain_rewritten_under_the_checkpoint_is_named_at_its_entry(
    db: Store, tamper: Callable[[], Tamperer], offsite: AuditSettings
) -> None:
    """A forger who rewrites everything with the public code (no key) meets the checkpoint."""
    ids = _fill(db)
    audit_checkpoints.take(db, offsite)
    copy = tamper()
    with copy.session() as session, session.begin():
        previous = audit.GENESIS
        for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all():
            entry.previous_hash = previous
            entry.entry_hash = previous = audit.legacy_hash(previous, entry)
    with copy.session() as session:
        result = audit_checkpoints.verify(db, session, offsite)
    assert (result.broken_at, result.problem) == (ids[-1], audit.NOT_CHECKPOINTED)


def _forge_with_another_key(line: dict[str, object]) -> dict[str, object]:
    document = dict(line["checkpoint"])  # type: ignore[call-overload]
    document["entry_id"] = 1
    signature = Ed25519PrivateKey.generate().sign(signing.canonical_json(document))
    return {"checkpoint": document, "signature": base64.b64encode(signature).decode()}


def _edit_the_head(line: dict[str, object]) -> dict[str, object]:
    document = dict(line["checkpoint"])  # type: ignore[call-overload]
    document["head"] = "0" * 64
    return {**line, "checkpoint": document}


def _unsigned(line: dict[str, object]) -> dict[str, object]:
    return {"checkpoint": line["checkpoint"]}


FORGERIES: dict[str, Callable[[dict[str, object]], dict[str, object]]] = {
    "signed with another key": _forge_with_another_key,
    "head edited": _edit_the_head,
    "signature removed": _unsigned,
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_checkpoint_is_refused(db: Store, offsite: AuditSettings, forgery: str) -> None:
    _fill(db, 2)
    audit_checkpoints.take(db, offsite)
    assert offsite.checkpoint_dir is not None
    path = offsite.checkpoint_dir / FILE_NAME
    genuine = _lines(offsite)[0]
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(FORGERIES[forgery](genuine)) + "\n")

    result = _verify(db, offsite)
    assert not result.ok
    assert f"checkpoint on line 2 of {path}" in (result.problem or "")
    assert "not signed by this installation's key" in (result.problem or "")


def test_a_malformed_line_is_refused(db: Store, offsite: AuditSettings) -> None:
    _fill(db, 1)
    assert offsite.checkpoint_dir is not None
    (offsite.checkpoint_dir / FILE_NAME).write_text('{"checkpoint": \n', encoding="utf-8")
    assert "line 1" in (_verify(db, offsite).problem or "")


def test_a_configured_directory_without_checkpoints_fails_verification(
    db: Store, offsite: AuditSettings
) -> None:
    _fill(db, 2)
    result = _verify(db, offsite)
    assert not result.ok
    assert "no signed checkpoint" in (result.problem or "")


def test_a_missing_directory_is_refused_not_created(db: Store, tmp_path: Path) -> None:
    unmounted = AuditSettings(checkpoint_dir=tmp_path / "not-mounted")
    with pytest.raises(ConfigurationError, match="does not exist"):
        audit_checkpoints.take(db, unmounted)
    assert not (tmp_path / "not-mounted").exists()
    with pytest.raises(ConfigurationError, match="CHECKPOINT_DIR"):
        audit_checkpoints.take(db, AuditSettings())


def test_checkpoints_go_to_syslog_too(db: Store, offsite: AuditSettings) -> None:
    _fill(db, 2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as collector:
        collector.bind(("127.0.0.1", 0))
        collector.settimeout(5)
        port = collector.getsockname()[1]
        settings = offsite.model_copy(update={"checkpoint_syslog": f"127.0.0.1:{port}"})
        checkpoint = audit_checkpoints.take(db, settings)
        message = collector.recv(65536).decode("utf-8")
    assert message.startswith("<38>clientvault: ")  # facility auth (4), severity info (6)
    line = json.loads(message.removeprefix("<38>clientvault: ").rstrip("\x00"))
    assert line["checkpoint"] == checkpoint.document()
    assert signing.verify(line["checkpoint"], line["signature"], signing.public_key_pem(db))


def test_the_worker_takes_checkpoints_on_its_timer(db: Store, offsite: AuditSettings) -> None:
    _fill(db, 2)
    worker = Worker(db, Settings(audit=offsite), consumers=CONSUMERS, jobs=JOBS, poll_seconds=0.05)
    worker.start()
    try:
        assert offsite.checkpoint_dir is not None
        path = offsite.checkpoint_dir / FILE_NAME
        deadline = time.monotonic() + 20
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # several more loops: the next checkpoint is due in an hour
    finally:
        worker.stop()
    assert len(_lines(offsite)) == 1
    assert _verify(db, offsite).ok
