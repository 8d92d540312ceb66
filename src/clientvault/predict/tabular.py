"""The adapter from an external customer table (a CRM or billing export, one row per
customer, one column saying whether they left) to the product's training code.

Numeric columns are used as they are (blank: missing); text columns are one-hot encoded with
a column per value seen; the target column's ``positive`` value is the label 1. The rows are
split 80/20 at random, stratified on the label (seeded), and ``training.fit_and_evaluate``
fits and measures the product model and the logistic-regression baseline on that split —
the same code the installation's own churn model goes through. This is how the IBM telco
churn acceptance test and ``clientvault predict evaluate --csv`` feed data in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from clientvault.errors import InvalidInput
from clientvault.predict.training import Dataset, Evaluation, fit_and_evaluate, require_minimum

#: Fewest rows of each class an external table must have.
MIN_CLASS_ROWS = 20


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None if value is None else float(value)
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def dataset_from_records(
    records: Sequence[Mapping[str, object]], *, target: str, positive: str
) -> Dataset:
    """A ``Dataset`` from rows of a table; ``InvalidInput`` if the target is missing or
    the table has a single class."""
    if not records:
        raise InvalidInput("the table has no rows")
    columns = [c for c in records[0] if c != target]
    if target not in records[0]:
        raise InvalidInput(f"no column {target!r} in the table", details={"field": "target"})
    numeric = {c for c in columns if all(_number(r.get(c)) is not None for r in records)}
    names: list[str] = []
    blocks: list[list[float]] = []
    for column in columns:
        if column in numeric:
            names.append(column)
            blocks.append(
                [
                    _number(r.get(column)) or 0.0 if r.get(column) is not None else math.nan
                    for r in records
                ]
            )
            continue
        values = sorted({str(r.get(column)) for r in records})
        for value in values:
            names.append(f"{column}={value}")
            blocks.append([1.0 if str(r.get(column)) == value else 0.0 for r in records])
    y = np.array([1 if str(r.get(target)) == positive else 0 for r in records], dtype=np.int_)
    return Dataset(names, np.array(blocks, dtype=np.float64).T, y)


def evaluate_table(
    records: Sequence[Mapping[str, object]],
    *,
    target: str,
    positive: str,
    holdout: float = 0.2,
    seed: int = 42,
) -> Evaluation:
    """Fit and evaluate the product model on an external table (80/20 stratified split by
    default, seeded): the hold-out metrics of the model and of the baseline."""
    # Imported here, not at module level: the CLI and the API start without scikit-learn.
    from sklearn.model_selection import train_test_split

    data = dataset_from_records(records, target=target, positive=positive)
    require_minimum(data, minimum=MIN_CLASS_ROWS, what="table")
    train_x, test_x, train_y, test_y = train_test_split(
        data.x, data.y, test_size=holdout, random_state=seed, stratify=data.y
    )
    return fit_and_evaluate(
        Dataset(data.names, train_x, train_y),
        Dataset(data.names, test_x, test_y),
        buyers_are_positive=False,
        importance_repeats=2,
        seed=0,
    )
