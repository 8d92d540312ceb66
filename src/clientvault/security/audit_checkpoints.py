"""Signed checkpoints of the audit chain's head, shipped off the machine.

The keyed chain (``security.audit``) stops whoever holds the database file from rewriting
entries, but not from cutting off the newest ones: what is left is a valid, shorter chain.
A checkpoint is the head's entry id and hash, signed with the installation's Ed25519 key
(``security.signing``, whose seed the key file's KEK protects) and appended as one JSON line
to ``audit-checkpoints.jsonl`` in a directory configured apart from the data (another disk,
a mount the database's administrators cannot write) and, optionally, sent to syslog for a
collector on another machine. ``verify`` checks the chain against every checkpoint in the
directory by default: each must be signed by this installation's key and its head must be
on the chain at its entry; a chain that ends before one was cut off.

The worker takes one every ``audit.checkpoint_minutes``; ``clientvault audit checkpoint``,
``init`` and ``migrate`` take one at once.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import dataclass
from logging.handlers import SysLogHandler
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clientvault.errors import ConfigurationError
from clientvault.security import audit, signing
from clientvault.security.models import AuditEntry
from clientvault.settings import AuditSettings
from clientvault.store.base import utcnow
from clientvault.store.context import Store

FORMAT = "clientvault-audit-checkpoint/1"
FILE_NAME = "audit-checkpoints.jsonl"


@dataclass(frozen=True)
class Checkpoint:
    """The head of the chain at one moment: its newest entry's id and hash."""

    entry_id: int
    head: str
    taken_at: str

    def document(self) -> dict[str, Any]:
        """What the signature covers."""
        return {
            "format": FORMAT,
            "entry_id": self.entry_id,
            "head": self.head,
            "taken_at": self.taken_at,
        }


def configured(settings: AuditSettings) -> bool:
    """Whether checkpoints have anywhere to go."""
    return settings.checkpoint_dir is not None or settings.checkpoint_syslog is not None


def take(store: Store, settings: AuditSettings) -> Checkpoint:
    """Seal the chain if it predates keyed hashes, sign its head and ship the checkpoint to
    every configured target (a clear error if there is none, or one cannot be written)."""
    if not configured(settings):
        raise ConfigurationError(
            "no audit checkpoint target: set CLIENTVAULT_AUDIT__CHECKPOINT_DIR "
            "(or CLIENTVAULT_AUDIT__CHECKPOINT_SYSLOG)"
        )
    with store.sessions.begin() as session:
        audit.seal(session)
    with store.read_sessions() as session:
        newest = session.execute(
            select(AuditEntry.id, AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1)
        ).first()
    checkpoint = Checkpoint(
        entry_id=0 if newest is None else newest.id,
        head=audit.GENESIS if newest is None else newest.entry_hash,
        taken_at=utcnow().isoformat(timespec="seconds"),
    )
    document = checkpoint.document()
    line = json.dumps(
        {
            "checkpoint": document,
            "signature": base64.b64encode(signing.sign(store, document)).decode(),
        },
        sort_keys=True,
    )
    if settings.checkpoint_dir is not None:
        _append_line(settings.checkpoint_dir, line)
    if settings.checkpoint_syslog is not None:
        _send_to_syslog(settings.checkpoint_syslog, line)
    return checkpoint


def verify(
    store: Store,
    session: Session,
    settings: AuditSettings,
    *,
    expected_head: str | None = None,
) -> audit.Verification:
    """``audit.verify`` against every signed checkpoint of the configured directory.

    A checkpoint that is malformed or not signed by this installation's key is refused
    before the chain is walked (forged, or another installation's); so is an empty or
    missing file, since a directory is configured for them to be in.
    """
    if settings.checkpoint_dir is None:
        return audit.verify(session, expected_head=expected_head)
    checkpoints = read(settings.checkpoint_dir, signing.public_key_pem(store))
    if isinstance(checkpoints, str):
        return audit.Verification(0, audit.GENESIS, None, checkpoints)
    anchors = {c.entry_id: c.head for c in checkpoints if c.entry_id}
    return audit.verify(session, expected_head=expected_head, checkpoints=anchors)


def read(directory: Path, public_key_pem: str) -> list[Checkpoint] | str:
    """Every checkpoint in a directory's file, each signature checked; or, instead, what
    is wrong with the file (the first line refused, or no checkpoint at all)."""
    path = directory / FILE_NAME
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    except OSError as exc:
        return f"the checkpoint file {path} cannot be read ({exc.strerror})"
    checkpoints = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        checkpoint = _parse(line, public_key_pem)
        if checkpoint is None:
            return (
                f"checkpoint on line {number} of {path} is malformed or not signed by this "
                "installation's key: forged, or another installation's"
            )
        checkpoints.append(checkpoint)
    if not checkpoints:
        return (
            f"no signed checkpoint in {path}: they were removed, or none was taken yet "
            "(`clientvault audit checkpoint`)"
        )
    return checkpoints


def _parse(line: str, public_key_pem: str) -> Checkpoint | None:
    try:
        record = json.loads(line)
        document = record["checkpoint"]
        checkpoint = Checkpoint(
            entry_id=document["entry_id"], head=document["head"], taken_at=document["taken_at"]
        )
        signed = signing.verify(document, record["signature"], public_key_pem)
    except (ValueError, KeyError, TypeError):
        return None
    if not signed or document != checkpoint.document():
        return None
    if not isinstance(checkpoint.entry_id, int) or not isinstance(checkpoint.head, str):
        return None
    return checkpoint


def _append_line(directory: Path, line: str) -> None:
    """Append one line durably; the directory must exist (a missing mount is not silently
    replaced by a local folder)."""
    if not directory.is_dir():
        raise ConfigurationError(
            f"audit checkpoint directory {directory} does not exist (is its disk mounted?)"
        )
    path = directory / FILE_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot append an audit checkpoint to {path} ({exc.strerror})"
        ) from None


class _RaisingSysLogHandler(SysLogHandler):
    """The standard syslog handler, but a failed send raises instead of printing."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        raise  # re-raises the send's exception, which ``emit`` is handling


def _send_to_syslog(address: str, line: str) -> None:
    """One message to a syslog socket path or ``host:port`` (UDP), facility auth."""
    target: str | tuple[str, int]
    if address.startswith("/"):
        target = address
    else:
        host, _, port = address.rpartition(":")
        target = (host.strip("[]"), int(port))
    try:
        handler = _RaisingSysLogHandler(address=target, facility=SysLogHandler.LOG_AUTH)
        try:
            handler.ident = "clientvault: "
            handler.emit(
                logging.LogRecord("clientvault.audit", logging.INFO, "", 0, line, None, None)
            )
        finally:
            handler.close()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot send an audit checkpoint to syslog at {address} ({exc.strerror})"
        ) from None
