"""``clientvault segment create | list | preview | explain | export | refresh`` on a real
installation (both backends): YAML in, errors naming the faulty node, an audited export."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.ingest.models import Event
from clientvault.security.models import AuditEntry
from clientvault.store.context import Store
from support.privacy_core import decide, make_customers, person, prepare

runner = CliRunner()

SEGMENT = """
slug: lyon-fans
name: Lyon fans
kind: dynamic
rules:
  all:
    - type: attribute
      field: city
      values: [Lyon]
    - not:
        type: consent
        purpose: marketing_sms
"""


def test_create_preview_explain_export_refresh(db: Store, data_dir: Path, tmp_path: Path) -> None:
    prepare(db)
    ids = make_customers(db, *(person(n) for n in range(1, 4)))
    decide(db, ids[0], "marketing_email", "granted")
    decide(db, ids[1], "marketing_sms", "granted")
    base = ["--data-dir", str(data_dir)]
    source = tmp_path / "segment.yaml"
    source.write_text(SEGMENT)
    result = runner.invoke(app, ["segment", "create", str(source), *base])
    assert result.exit_code == 0, result.output
    assert "lyon-fans (dynamic): 2 members" in result.output

    bad = tmp_path / "bad.yaml"
    bad.write_text(SEGMENT.replace("values: [Lyon]", "values: Lyon").replace("lyon-fans", "bad"))
    result = runner.invoke(app, ["segment", "create", str(bad), *base])
    assert result.exit_code == 1
    assert "rules.all[0].values" in result.output

    result = runner.invoke(app, ["segment", "list", *base])
    assert "lyon-fans" in result.output
    result = runner.invoke(app, ["segment", "preview", "lyon-fans", *base])
    assert result.exit_code == 0, result.output
    assert "2 of 3 live profiles" in result.output
    # Too few profiles to sample: the estimate is the exact count.
    result = runner.invoke(app, ["segment", "preview", "lyon-fans", "--estimate", *base])
    assert result.exit_code == 0, result.output
    assert "2 of 3 live profiles" in result.output
    result = runner.invoke(app, ["segment", "explain", "lyon-fans", str(ids[1]), *base])
    assert result.exit_code == 0, result.output
    assert "no  not: consent for marketing_sms is granted" in result.output

    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        [
            "segment",
            "export",
            "lyon-fans",
            "--purpose",
            "marketing_email",
            "-o",
            str(out),
            "--reason",
            "campaign",
            *base,
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines()[1].startswith(str(ids[0]))
    with db.sessions() as session:
        assert session.scalars(
            select(AuditEntry.reason).where(AuditEntry.action == "export.segment")
        ).all() == ["campaign"]
    result = runner.invoke(app, ["segment", "refresh", *base])
    assert result.exit_code == 0, result.output
    assert "lyon-fans: +0 -0, 2 members" in result.output


TRAIT = """
name: cities_seen
event:
  name: Page Viewed
aggregate: unique
property: city
window_days: 30
"""


def test_computed_traits(db: Store, data_dir: Path, tmp_path: Path) -> None:
    prepare(db)
    (customer,) = make_customers(db, person(1))
    with db.sessions.begin() as session:
        session.add(
            Event(
                message_id="m-1",
                type="track",
                name="Page Viewed",
                customer_id=customer,
                occurred_at=datetime.now(UTC),
                received_at=datetime.now(UTC),
                properties={"city": "Lyon"},
                context={},
            )
        )
    base = ["--data-dir", str(data_dir)]
    source = tmp_path / "trait.yaml"
    source.write_text(TRAIT.replace("window_days: 30", "window_days: zero"))
    result = runner.invoke(app, ["segment", "trait-define", str(source), *base])
    assert result.exit_code == 1
    assert "trait.window_days" in result.output
    source.write_text(TRAIT)
    result = runner.invoke(app, ["segment", "trait-define", str(source), *base])
    assert result.exit_code == 0, result.output
    assert "cities_seen: 1 customers with a value" in result.output
    result = runner.invoke(app, ["segment", "traits", *base])
    assert "cities_seen" in result.output
    assert "30 days" in result.output
    result = runner.invoke(app, ["segment", "traits", str(customer), *base])
    assert '["Lyon"]' in result.output
    result = runner.invoke(app, ["segment", "refresh", "--traits", *base])
    assert "trait cities_seen: 0 values changed" in result.output
