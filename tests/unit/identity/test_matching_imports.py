"""The matching modules keep Splink, DuckDB and pandas out of the import path of the API/CLI."""

from __future__ import annotations

import subprocess
import sys


def test_heavy_libraries_are_imported_only_when_matching_runs() -> None:
    code = (
        "import sys, clientvault.cli.app, clientvault.identity.matching.resolve, "
        "clientvault.identity.incremental; "
        "print(sorted(m for m in ('splink', 'duckdb', 'pandas') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
