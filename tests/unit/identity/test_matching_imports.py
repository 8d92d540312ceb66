"""The matching modules keep Splink and DuckDB out of the import path of the API/CLI.

(pandas is no longer checked: scikit-learn, which segments' personas and predict's models
import, brings it in; see the issue 23 note on the CLI's start-up time.)"""

from __future__ import annotations

import subprocess
import sys


def test_heavy_libraries_are_imported_only_when_matching_runs() -> None:
    code = (
        "import sys, clientvault.cli.app, clientvault.identity.matching.resolve, "
        "clientvault.identity.incremental; "
        "print(sorted(m for m in ('splink', 'duckdb') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
