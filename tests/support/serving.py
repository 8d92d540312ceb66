"""A real ``clientvault serve`` subprocess on a free loopback port, for tests that need one.

``ServerProcess`` starts the installed ``clientvault serve`` on an installation's settings
(its data directory and database URLs, nothing of the parent's ``CLIENTVAULT_*`` variables),
waits for ``/healthz``, and stops it gracefully or kills it with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest

from clientvault.settings import Settings

CLIENTVAULT = Path(sys.executable).parent / "clientvault"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port nobody listens on right now on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment(settings: Settings) -> dict[str, str]:
    """The parent's environment without its clientvault settings, plus this installation's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTVAULT_")}
    env["CLIENTVAULT_ENV"] = "test"
    if settings.database.url:
        env["CLIENTVAULT_DATABASE__URL"] = settings.database.url
    if settings.keystore.url:
        env["CLIENTVAULT_KEYSTORE__URL"] = settings.keystore.url
    return env


@dataclass
class ServerProcess:
    """``clientvault serve`` in a subprocess: started, stopped, or killed like a real server."""

    settings: Settings
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until ``/healthz`` answers."""
        command = [
            str(CLIENTVAULT),
            "serve",
            "--data-dir",
            str(self.settings.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=server_environment(self.settings)
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                pytest.fail(f"the server exited at start:\n{self.log()}")
            try:
                if httpx2.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"the server did not answer /healthz within {START_TIMEOUT_S} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, like a crash or an OOM kill."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        """A graceful stop (SIGTERM), escalating to SIGKILL if it takes too long."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
