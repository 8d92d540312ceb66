"""The CLV fit through the product's own path: the CDNOW sample's transactions written as the
product's orders, then ``clientvault analytics clv fit --json`` (RFM summary from the orders
table, fit, scores). The parameters must match the published ones (Fader, Hardie & Lee 2005:
r = 0.243, alpha = 4.414 per week, a = 0.793, b = 2.426) within 1 %, since the orders summarise to
the same recency-frequency data (in days here).

The orders are inserted as the commerce consumer writes them rather than sent as 6,919
``Order Completed`` events: the consumer's event-to-order path is ingest's own test
(``tests/integration/ingest/test_commerce_consumer.py``), and draining 6,919 events through it
takes ~40 s on a loaded 2-core machine, over this suite's time budget.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.customers.scores import CustomerScore
from clientvault.identity.models import Customer
from clientvault.ingest.commerce.models import Order
from clientvault.store.context import Store

runner = CliRunner()


def _cdnow_orders() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Customers and orders of ``lifetimes``' copy of the CDNOW sample (Fader & Hardie's 1/10
    sample of CDNOW's 1997 first-time buyers, 6,919 transactions of 2,357 people)."""
    spec = find_spec("lifetimes")
    assert spec is not None
    assert spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "CDNOW_sample.txt"
    people: dict[str, uuid.UUID] = {}
    orders = []
    for number, line in enumerate(path.read_text().splitlines()):
        _, customer, day, _, amount = line.split()
        customer_id = people.setdefault(customer, uuid.uuid4())
        placed = datetime(int(day[:4]), int(day[4:6]), int(day[6:]), 12, tzinfo=UTC)
        orders.append(
            {
                "external_id": f"C{number}",
                "customer_id": customer_id,
                "placed_at": placed,
                "total": Decimal(amount),
                "currency": "USD",
            }
        )
    customers = [{"id": customer_id, "source": "cdnow"} for customer_id in people.values()]
    return customers, orders


def test_cdnow_orders_through_the_cli(db: Store, data_dir: Path) -> None:
    customers, orders = _cdnow_orders()
    with db.sessions.begin() as session:
        for start in range(0, len(customers), 500):
            session.execute(insert(Customer), customers[start : start + 500])
        for start in range(0, len(orders), 500):
            session.execute(insert(Order), orders[start : start + 500])
    result = runner.invoke(
        app,
        [
            "analytics",
            "clv",
            "fit",
            "--calibration-end",
            "1997-09-30",
            "--observation-end",
            "1998-06-30",
            "--json",
            "--data-dir",
            str(data_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    fitted = report["bgnbd"]
    assert report["customers"] == 2357
    assert fitted["r"] == pytest.approx(0.243, rel=0.01)
    assert fitted["alpha"] / 7 == pytest.approx(4.414, rel=0.01)  # days → weeks
    assert fitted["a"] == pytest.approx(0.793, rel=0.01)
    assert fitted["b"] == pytest.approx(2.426, rel=0.01)
    assert fitted["log_likelihood"] < 0
    # Calibration: the hold-out purchases predicted per frequency bin are close to actual.
    bins = {row["frequency"]: row for row in report["calibration"]}
    assert bins["0"]["customers"] == 1411
    for row in report["calibration"]:
        assert abs(row["predicted"] - row["actual"]) < 0.35 * max(1.0, row["actual"]), row
    with db.sessions() as session:
        kinds = dict(
            session.execute(
                select(CustomerScore.kind, func.count()).group_by(CustomerScore.kind)
            ).all()
        )
    assert kinds == {
        "clv_historical": 2357,
        "clv_predicted": 2357,
        "clv_expected_purchases": 2357,
        "clv_probability_alive": 2357,
    }


def test_fit_refuses_bad_dates(db: Store, data_dir: Path) -> None:
    result = runner.invoke(
        app,
        ["analytics", "clv", "fit", "--calibration-end", "30/09/1997", "--data-dir", str(data_dir)],
    )
    assert result.exit_code != 0
    assert "YYYY-MM-DD" in result.output
    result = runner.invoke(app, ["analytics", "clv", "fit", "--data-dir", str(data_dir)])
    assert result.exit_code == 1  # no orders: a clear refusal, not a traceback
