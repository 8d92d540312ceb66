"""The CLI and the API app start without the heavy numerical libraries.

Splink and DuckDB are imported only when matching runs; scikit-learn, SciPy, implicit and
pandas (which scikit-learn brings in) only when a model is trained or scored, personas or
RFM groups are computed, or an experiment or CLV fit is analysed. ``clientvault --help``
took 4.3 s when the CLI imported them all through its domains.

The check runs in a fresh interpreter: the test process has imported them already.
"""

from __future__ import annotations

import subprocess
import sys

#: Libraries no face may import at start-up.
HEAVY = ("splink", "duckdb", "sklearn", "scipy", "implicit", "pandas")


def test_heavy_libraries_are_imported_only_when_used() -> None:
    code = (
        "import sys, clientvault.cli.app, clientvault.app, "
        "clientvault.identity.matching.resolve, clientvault.identity.incremental; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
