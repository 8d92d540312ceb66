"""Run the benchmarks: every ``bench/bench_*.py`` whose name contains the filter, one process each.

Usage: ``python bench/run.py [FILTER]`` (``make bench BENCH=ingest``). Each benchmark prints
lines ``name: ours X, baseline Y, ratio Z``, its baseline measured in the same run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    """Run the matching benchmarks in turn; fail if any fails."""
    wanted = sys.argv[1] if len(sys.argv) > 1 else ""
    scripts = sorted(p for p in Path(__file__).parent.glob("bench_*.py") if wanted in p.stem)
    if not scripts:
        print(f"no benchmark matches {wanted!r}")
        return 1
    failed = 0
    for script in scripts:
        print(f"== {script.stem}", flush=True)
        failed += subprocess.call([sys.executable, str(script)]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
