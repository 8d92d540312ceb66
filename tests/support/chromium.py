"""Finding the chromium that Playwright drives (Playwright cannot download its own here)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: Debian's path, the last resort when nothing else names a chromium.
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
#: Said by every skipped browser test, and counted by the summary at the end of the run.
CHROMIUM_SKIP_REASON = (
    "browser tests skipped; install Debian's chromium (apt-get install chromium) or set "
    "CLIENTVAULT_TEST_CHROMIUM to a chromium binary"
)


def find_chromium() -> Path:
    """``CLIENTVAULT_TEST_CHROMIUM``, else ``chromium`` (or ``chromium-browser``) on ``PATH``,
    else Debian's path (which may not exist: the caller checks)."""
    given = os.environ.get("CLIENTVAULT_TEST_CHROMIUM")
    if given:
        return Path(given)
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return DEBIAN_CHROMIUM
