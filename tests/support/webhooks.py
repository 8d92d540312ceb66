"""A loopback HTTP server that records the webhook calls it receives (and checks their
signature), for the journeys' tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from clientvault.automation.journeys.jobs import signature


@dataclass
class Receiver:
    """The calls received: idempotency keys in arrival order, and any badly signed call."""

    key: bytes = b""
    url: str = ""
    keys: list[str] = field(default_factory=list)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_receiver(key: bytes) -> Iterator[Receiver]:
    """A receiver on a free loopback port for the duration of the block."""
    receiver = Receiver(key=key)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:
                # The sender died mid-request (the crash tests kill it at random): not a
                # call, as any HTTP server would have it; the sender sends it again.
                self.close_connection = True
                return
            expected = signature(receiver.key, self.headers["X-Clientvault-Timestamp"], body)
            with receiver.lock:
                if self.headers["X-Clientvault-Signature"] != expected:
                    receiver.bad_signatures += 1
                receiver.keys.append(self.headers["Idempotency-Key"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
