"""``clientvault import customers|events`` through the CLI, on a fresh installation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.identity.models import Customer
from clientvault.ingest.models import Event
from clientvault.store.context import Store
from support.history import dated_order, dated_track

runner = CliRunner()


def _cli() -> typer.Typer:
    """The real command line, where ``import`` is registered."""
    assert any(group.name == "import" for group in app.registered_groups)
    return app


def _run(data_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(_cli(), ["import", *args, "--data-dir", str(data_dir)])
    return result.exit_code, result.output


def _count(db: Store, model: type[Customer] | type[Event]) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


CUSTOMERS = (
    "Ref,E-mail,Prénom,Ville\n"
    "c-1,ann@example.com,Ann,Paris\n"
    "c-2,bob-at-example.com,Bob,Lyon\n"
    "c-3,cy@example.com,Cy,Nice\n"
)


def test_customers_import_prints_a_summary_and_writes_the_error_report(
    data_dir: Path, db: Store, tmp_path: Path
) -> None:
    file = tmp_path / "customers.csv"
    file.write_text(CUSTOMERS, encoding="utf-8")

    code, output = _run(
        data_dir, "customers", str(file), "--map", "userId=Ref", "--map", "firstName=Prénom"
    )
    assert code == 0, output
    assert "3 rows read, 2 accepted, 0 duplicates, 1 rejected, 2 customers created" in output
    assert "Columns not imported: Ville" in output
    report = tmp_path / "customers.csv.errors.csv"
    assert str(report.name) in output.replace("\n", "")
    with report.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["row", "line", "reason"]
    assert rows[1][:2] == ["2", "3"]
    assert "bob-at-example.com" not in output + report.read_text()
    assert "ann@example.com" not in output
    assert _count(db, Customer) == 2

    code, output = _run(
        data_dir, "customers", str(file), "--map", "userId=Ref", "--map", "firstName=Prénom"
    )
    assert code == 0, output
    assert "0 accepted, 2 duplicates, 1 rejected, 0 customers created" in output
    assert _count(db, Customer) == 2


def test_a_mapping_file_and_a_custom_report_path(data_dir: Path, db: Store, tmp_path: Path) -> None:
    file = tmp_path / "customers.csv"
    file.write_text(CUSTOMERS.replace(",", ";"), encoding="utf-8")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"userId": "Ref", "city": "Ville"}))
    report = tmp_path / "out" / "errors.csv"
    report.parent.mkdir()

    code, output = _run(
        data_dir, "customers", str(file), "--mapping", str(mapping), "--errors", str(report)
    )
    assert code == 0, output
    assert report.read_text().count("\n") == 2
    assert not (tmp_path / "customers.csv.errors.csv").exists()
    with db.sessions() as session:
        assert sorted(session.scalars(select(Customer.city))) == ["Nice", "Paris"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "shoe_size=Ref"], "unknown target 'shoe_size'"),
        (["--map", "userId"], "--map takes TARGET=HEADER"),
        (["--map", "userId=Reference"], "is not in the file's header"),
        (["--map", "userId=[b]Ref"], "the column '[b]Ref' (mapped to 'userId')"),
        (["--delimiter", ";;"], "the delimiter is one character"),
        (["--source", "x" * 65], "a source name is 1 to 64 characters"),
    ],
)
def test_unusable_options_exit_with_2_and_import_nothing(
    data_dir: Path, db: Store, tmp_path: Path, args: list[str], message: str
) -> None:
    file = tmp_path / "customers.csv"
    file.write_text(CUSTOMERS, encoding="utf-8")
    code, output = _run(data_dir, "customers", str(file), *args)
    assert code == 2, output
    assert message in " ".join(output.split())
    assert "Traceback" not in output
    assert _count(db, Customer) == 0


def test_the_error_report_may_not_overwrite_the_input(data_dir: Path, tmp_path: Path) -> None:
    file = tmp_path / "customers.csv"
    file.write_text(CUSTOMERS, encoding="utf-8")
    code, output = _run(data_dir, "customers", str(file), "--errors", str(file))
    assert code == 2
    assert "would overwrite the input file" in output
    assert file.read_text(encoding="utf-8") == CUSTOMERS


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("email,city\n", "the file has a header but no data rows"),
        ("email,city\nnot-an-address,Paris\n", "nothing could be imported"),
    ],
)
def test_a_file_with_nothing_to_import_exits_with_1(
    data_dir: Path, tmp_path: Path, content: str, message: str
) -> None:
    file = tmp_path / "customers.csv"
    file.write_text(content, encoding="utf-8")
    code, output = _run(data_dir, "customers", str(file))
    assert code == 1, output
    assert message in output
    assert "Traceback" not in output


def test_events_import_and_rerun(data_dir: Path, db: Store, tmp_path: Path) -> None:
    file = tmp_path / "events.jsonl"
    file.write_text(
        '{"type": "track", "userId": "u-1", "event": "Signed Up"}\n'
        "oops\n"
        '{"type": "page", "anonymousId": "a-1", "name": "Home"}\n',
        encoding="utf-8",
    )
    code, output = _run(data_dir, "events", str(file), "--source", "legacy-shop")
    assert code == 0, output
    assert "3 rows read, 2 accepted, 0 duplicates, 1 rejected, 1 customers created" in output
    assert (tmp_path / "events.jsonl.errors.csv").read_text().splitlines()[1] == (
        "2,2,not valid JSON"
    )
    code, output = _run(data_dir, "events", str(file), "--source", "legacy-shop")
    assert code == 0, output
    assert "0 accepted, 2 duplicates" in output
    with db.sessions() as session:
        assert set(session.scalars(select(Event.source))) == {"legacy-shop"}
        assert session.scalar(select(func.count()).select_from(Event)) == 2


def test_orders_older_than_the_accounting_period_are_imported_only_once_confirmed(
    data_dir: Path, db: Store, tmp_path: Path
) -> None:
    file = tmp_path / "orders.jsonl"
    order = dated_order("u-1", "o-1", "2011-03-01T10:00:00Z", total=10)
    visit = dated_track("u-1", "Visited", "2011-03-01T09:00:00Z")
    file.write_text(json.dumps(order) + "\n" + json.dumps(visit) + "\n", encoding="utf-8")
    result = runner.invoke(
        _cli(), ["import", "events", str(file), "--data-dir", str(data_dir)], input="n\n"
    )
    assert result.exit_code == 1, result.output
    assert "1 orders in orders.jsonl are older than the 120-month" in result.output
    assert _count(db, Event) == 0
    code, output = _run(data_dir, "events", str(file), "--yes")
    assert code == 0, output
    assert "2 accepted" in output
    assert "warning: 1 imported orders are older than the accounting retention period" in output
    assert _count(db, Event) == 2


def test_a_missing_file_is_a_usage_error(data_dir: Path, tmp_path: Path) -> None:
    code, _ = _run(data_dir, "customers", str(tmp_path / "nope.csv"))
    assert code == 2
