"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for e-mail tests."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Mailbox:
    """Messages received by the test SMTP server, parsed, in arrival order."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    #: Addresses refused for good (550): a bounce.
    refuse: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(parsed)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def wait_for_mail(self, *, timeout: float = 20.0, settle: float = 0.5) -> None:
        """Wait until a message has arrived (or ``timeout`` seconds), then ``settle`` seconds
        more, so that a message sent by mistake after the first one arrives too."""
        deadline = time.monotonic() + timeout
        while not self.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(settle)

    def to(self, address: str) -> list[EmailMessage]:
        """The messages addressed to ``address``."""
        return [
            m for m, rcpt in zip(self.messages, self.recipients, strict=True) if address in rcpt
        ]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server(tls: tuple[Path, Path] | None = None) -> Iterator[Mailbox]:
    """An aiosmtpd server on a free loopback port for the duration of the block; with
    ``tls`` (certificate, key) it offers STARTTLS and refuses mail before it."""
    mailbox = Mailbox(port=_free_port())
    options: dict[str, Any] = {}
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        options = {"tls_context": context, "require_starttls": True}
    controller = Controller(mailbox, hostname=mailbox.host, port=mailbox.port, **options)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a received message."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content: str = part.get_content()  # type: ignore[attr-defined]
    return content


def link_in(message: EmailMessage, path: str) -> str:
    """The first link in the message's text whose path is ``path`` (with its token)."""
    found = re.search(rf"https?://[^\s]+{re.escape(path)}\?token=[A-Za-z0-9_-]+", text_of(message))
    assert found is not None, f"no {path} link in the message"
    return found.group(0)
