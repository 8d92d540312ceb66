"""``clientvault campaign list|show|create|cancel``: what ``/api/v1/campaigns`` does, from the
command line, with tables or ``--json``; the campaign sent by the real sending job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from clientvault.automation.journeys import campaigns
from clientvault.cli.app import app
from clientvault.cli.common import console
from clientvault.security.models import AuditEntry
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.journeys import ALWAYS, sign_up, template

runner = CliRunner()


def _invoke(data_dir: Path, *args: str) -> Result:
    return runner.invoke(app, ["campaign", *args, "--data-dir", str(data_dir)], terminal_width=200)


def _run(data_dir: Path, *args: str) -> str:
    result = _invoke(data_dir, *args)
    assert result.exit_code == 0, result.output
    return result.output


def _json(data_dir: Path, *args: str) -> Any:
    return json.loads(_run(data_dir, *args, "--json"))


def test_campaigns_are_created_from_files_listed_shown_sent_and_cancelled(
    data_dir: Path,
    db: Store,
    db_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(console, "width", 200)
    sign_up(db, 1)
    template(db, "spring-a", subject="Spring A")
    template(db, "spring-b", subject="Spring B")
    spring = tmp_path / "spring.yaml"
    spring.write_text(
        yaml.safe_dump(
            {
                "name": "Spring sale",
                "variants": [
                    {"name": "A", "template": "spring-a", "percent": 50},
                    {"name": "B", "template": "spring-b", "percent": 50},
                ],
                "filters": [{"field": "country", "op": "ne", "value": "DE"}],
            }
        ),
        encoding="utf-8",
    )
    made = _json(data_dir, "create", str(spring))
    assert (made["name"], made["status"], made["recipients"]) == ("Spring sale", "scheduled", {})
    assert [v["template"] for v in made["variants"]] == ["spring-a", "spring-b"]
    later = tmp_path / "later.json"
    later.write_text(
        json.dumps(
            {
                "name": "Autumn",
                "variants": [{"name": "only", "template": "spring-a"}],
                "send_at": "2099-09-01T08:00:00+00:00",
            }
        ),
        encoding="utf-8",
    )
    assert "Campaign Autumn: scheduled, sends at 2099-09-01 08:00 UTC" in _run(
        data_dir, "create", str(later)
    )

    # The real sending job handles the due one; the other waits for its time.
    campaigns.send_due_campaigns(db, db_settings.model_copy(update={"automation": ALWAYS}))
    listed = _json(data_dir, "list")
    assert [(c["name"], c["status"]) for c in listed] == [
        ("Autumn", "scheduled"),
        ("Spring sale", "sent"),
    ]
    assert sum(listed[1]["recipients"].values()) == 1
    table = _run(data_dir, "list")
    assert "Spring sale" in table
    assert "A: spring-a 50%, B: spring-b 50%" in table
    shown = _run(data_dir, "show", "Spring sale")
    assert "purpose" in shown
    assert '"op": "ne"' in shown
    by_id = _json(data_dir, "show", made["id"])
    assert by_id["recipients"] == listed[1]["recipients"]

    cancelled = _json(data_dir, "cancel", "Autumn")
    assert cancelled["status"] == "cancelled"
    again = _invoke(data_dir, "cancel", "Autumn")
    assert again.exit_code == 1
    assert "a cancelled campaign cannot be cancelled" in again.output
    with db.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("campaign.%"))
        ).all()
    assert sorted(actions) == ["campaign.cancelled", "campaign.scheduled", "campaign.scheduled"]


def test_bad_campaign_files_and_names_get_one_line_errors(
    data_dir: Path, db: Store, tmp_path: Path
) -> None:
    sign_up(db, 1)  # the purposes exist
    template(db, "spring-a")
    cases = {
        "no-template.yaml": (
            "name: X\nvariants: [{name: A, template: nope}]\n",
            "variant A: no template is called 'nope'",
        ),
        "shares.yaml": (
            "name: X\nvariants: [{name: A, template: spring-a, percent: 60}]\n",
            "the variants' percents must add up to 100",
        ),
        "list.yaml": ("- name: X\n", "list.yaml: a campaign is a mapping"),
        "broken.json": ("{", "broken.json: not valid YAML or JSON"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        result = _invoke(data_dir, "create", str(path))
        assert result.exit_code == 1, result.output
        assert message in " ".join(result.output.split()), result.output
    missing = _invoke(data_dir, "show", "Nope")
    assert missing.exit_code == 1
    assert "no campaign is called 'Nope'" in missing.output
