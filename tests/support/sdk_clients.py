"""The JavaScript SDKs of the compatibility tests, installed from the npm registry on demand.

``tests/sdk_clients/`` is a test-only npm project (``package.json`` and its committed
``package-lock.json``): unmodified ``@segment/analytics-node``, ``@rudderstack/rudder-sdk-node``
and ``@segment/analytics-next``. The first test that needs them runs ``npm ci`` there (again
whenever the lock is newer than the installed tree), so a fresh clone needs nothing but node
and npm; ``node_modules`` stays out of git. Without npm the tests are skipped, saying why.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

import pytest

SDK_CLIENTS = Path(__file__).resolve().parent.parent / "sdk_clients"
NPM_TIMEOUT_S = 300


def install_sdk_clients() -> Path:
    """The folder whose ``node_modules`` holds the SDKs, installed (``npm ci``) if needed."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("node and npm are not installed: the JavaScript SDK tests need them")
    # One install at a time: the suite's parallel workers may all want the SDKs at once, and
    # two `npm ci` in one folder delete each other's files.
    with (SDK_CLIENTS / ".install.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        return _install(npm)


def _install(npm: str) -> Path:
    lock = SDK_CLIENTS / "package-lock.json"
    installed = SDK_CLIENTS / "node_modules" / ".package-lock.json"  # written by npm
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return SDK_CLIENTS
    # --ignore-scripts: nothing of these packages runs at install time (their optional
    # native add-ons are not needed to send events).
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
        cwd=SDK_CLIENTS,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"npm ci in {SDK_CLIENTS} failed:\n{done.stdout}\n{done.stderr}")
    return SDK_CLIENTS
