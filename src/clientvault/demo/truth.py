"""The planted duplicates' ground truth as a CSV file, for scoring identity resolution.

Columns: ``customer_id, duplicate_of_customer_id, kind_of_change``; ids only, no personal
data. Written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from clientvault.demo.summary import DuplicatePair

COLUMNS = ("customer_id", "duplicate_of_customer_id", "kind_of_change")


def write_truth(path: Path, pairs: Iterable[DuplicatePair]) -> None:
    """Write (replace) the ground-truth file, creating its directory if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for pair in pairs:
            writer.writerow(
                (str(pair.customer_id), str(pair.duplicate_of_customer_id), pair.kind_of_change)
            )
    os.replace(partial, path)


def read_truth(path: Path) -> list[DuplicatePair]:
    """The pairs of a ground-truth file (for scoring and tests)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            DuplicatePair(
                customer_id=uuid.UUID(row["customer_id"]),
                duplicate_of_customer_id=uuid.UUID(row["duplicate_of_customer_id"]),
                kind_of_change=row["kind_of_change"],
            )
            for row in csv.DictReader(handle)
        ]
