"""``clientvault customers list`` and ``identity reindex`` through the real CLI on a real
installation (both backends)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.identity.models import Customer
from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.store.context import Store

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_list_searches_pages_and_reindexes(db: Store, data_dir: Path) -> None:
    with db.sessions.begin() as session:
        ids = create_customers(
            session,
            db,
            profiles=[
                CustomerCreate(first_name="Jean", last_name="Dupont", email="jean@example.org"),
                CustomerCreate(first_name="Anna", last_name="Weber", email="anna@example.de"),
                CustomerCreate(first_name="Zoé", last_name="Martin", email="zoe@example.com"),
            ],
            source="crm",
            default_region="FR",
        )
        # As if written before the list's columns existed.
        session.execute(
            update(Customer).values(email_hint=None, first_name_index=None, last_name_index=None)
        )
    where = ("--data-dir", str(data_dir))
    code, output = _run("customers", "list", "-q", "Dupont", *where)
    assert code == 0, output
    assert str(ids[0]) not in output  # not indexed yet
    code, output = _run("identity", "reindex", *where)
    assert code == 0, output
    assert "Indexed 3 profile(s)" in output
    code, output = _run("customers", "list", "-q", "jean DUPONT", *where)
    assert code == 0, output
    assert str(ids[0]) in output
    assert "Searched as: identifier, name." in output
    code, output = _run("customers", "list", "--limit", "2", "--asc", *where)
    assert code == 0, output
    assert str(ids[0]) in output
    assert str(ids[2]) not in output
    cursor = output.split("Next page: --cursor")[1].split()[0]
    code, output = _run("customers", "list", "--limit", "2", "--asc", "--cursor", cursor, *where)
    assert code == 0, output
    assert str(ids[2]) in output
    assert "Next page" not in output
    code, output = _run("customers", "list", "--sort", "email", *where)
    assert code != 0
    assert "sort" in output
    code, output = _run("customers", "list", "-q", "zoe@", *where)
    assert code != 0
    assert "invalid e-mail address" in output
