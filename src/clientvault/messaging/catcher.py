"""The development mail catcher: an SMTP sink on loopback that keeps what it receives.

On a developer's machine (``env=dev``) nobody has a relay, so the outbox would keep every
e-mail queued (sealed) and a data-subject request could never be verified. ``serve`` and
``demo`` therefore start this sink (``catching_mail``) and point the outbox's delivery at it;
each received message is written as an ``.eml`` file in ``<data dir>/dev-mailbox`` (mode
0700: they hold the addresses and links of the synthetic demo people), which the console's
dev-only mailbox page lists and opens. It never runs outside ``dev``, and never when a real
relay is configured (``smtp.enabled``).

aiosmtpd (the SMTP server the tests' mailbox uses too) does the protocol; this module only
stores and reads the messages.
"""

from __future__ import annotations

import email
import email.policy
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from clientvault.errors import NotFound
from clientvault.settings import Settings

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: Files of received messages: ``<receipt time in ns>-<random>.eml``.
_NAME = re.compile(r"^[0-9]{19}-[0-9a-f]{8}$")
#: Messages the mailbox lists (the newest).
LIST_LIMIT = 200


def mailbox_dir(settings: Settings) -> Path:
    """Where the catcher keeps the messages of this installation."""
    return settings.data_dir / "dev-mailbox"


def catches_mail(settings: Settings) -> bool:
    """Whether this installation catches its e-mail: in ``dev``, with the catcher on and no
    real relay configured."""
    return settings.env == "dev" and settings.dev_mail.enabled and not settings.smtp.enabled


class _Keeper:
    """aiosmtpd's handler: each message's bytes written to one file, atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        name = f"{time.time_ns():019d}-{uuid.uuid4().hex[:8]}"
        partial = self.directory / f".{name}.tmp"
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(envelope.content)
        partial.replace(self.directory / f"{name}.eml")
        return "250 Message accepted for delivery"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def catching_mail(settings: Settings) -> Iterator[Settings]:
    """Run the catcher for the block when this installation catches its mail
    (``catches_mail``); yields the settings to serve with: SMTP delivery on, to the catcher
    (on ``dev_mail.port``, or a free port if that one is taken). Otherwise yields
    ``settings`` unchanged and starts nothing."""
    if not catches_mail(settings):
        yield settings
        return
    try:
        # The dev extra's (``make install``): a production install has no use for it.
        from aiosmtpd.controller import Controller
    except ImportError:
        log.warning("no development mail catcher: aiosmtpd is not installed (the dev extra)")
        yield settings
        return
    directory = mailbox_dir(settings)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    port = settings.dev_mail.port if _port_free(settings.dev_mail.port) else _free_port()
    controller = Controller(_Keeper(directory), hostname=HOST, port=port)
    controller.start()
    try:
        smtp = settings.smtp.model_copy(
            update={"enabled": True, "host": HOST, "port": port, "starttls": False}
        )
        yield settings.model_copy(update={"smtp": smtp})
    finally:
        controller.stop()


@dataclass(frozen=True)
class CaughtMessage:
    """One received message as the mailbox shows it."""

    id: str
    received_at: datetime
    sender: str
    to: str
    subject: str
    text: str


def _read(path: Path) -> CaughtMessage:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    return CaughtMessage(
        id=path.stem,
        received_at=datetime.fromtimestamp(int(path.stem.split("-")[0]) / 1e9, UTC),
        sender=str(parsed.get("From", "")),
        to=str(parsed.get("To", "")),
        subject=str(parsed.get("Subject", "")),
        text=str(text),
    )


def caught_messages(settings: Settings, limit: int = LIST_LIMIT) -> list[CaughtMessage]:
    """The newest messages the catcher received, newest first."""
    directory = mailbox_dir(settings)
    if not directory.is_dir():
        return []
    names = sorted((p for p in directory.glob("*.eml") if _NAME.match(p.stem)), reverse=True)
    return [_read(path) for path in names[:limit]]


def caught_message(settings: Settings, message_id: str) -> CaughtMessage:
    """One received message by its id, or ``NotFound``."""
    path = mailbox_dir(settings) / f"{message_id}.eml"
    if not _NAME.match(message_id) or not path.is_file():
        raise NotFound("no such message in the development mailbox")
    return _read(path)
