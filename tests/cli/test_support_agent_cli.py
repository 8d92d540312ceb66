"""``clientvault support agent``: a member of staff named by e-mail becomes an agent; an
e-mail no account has is refused with a clear message and nothing is written."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.security.accounts import user_by_email
from clientvault.settings import Settings
from clientvault.store.context import Store
from clientvault.support.agents import is_agent, list_agents
from support.staff import create_staff

runner = CliRunner()


def test_agent_by_e_mail(db: Store, db_settings: Settings, data_dir: Path) -> None:
    with db.sessions.begin() as session:
        create_staff(session, db_settings, email="sam@example.com", role="admin")
    base = ["--data-dir", str(data_dir)]

    unknown = runner.invoke(app, ["support", "agent", "nobody@example.com", *base])
    assert unknown.exit_code != 0
    assert "no member of staff with this e-mail" in " ".join(unknown.output.split())
    with db.read_sessions() as session:
        assert list_agents(session) == []

    made = runner.invoke(app, ["support", "agent", " Sam@Example.com ", "--capacity", "3", *base])
    assert made.exit_code == 0, made.output
    with db.read_sessions() as session:
        sam = user_by_email(session, "sam@example.com")
        assert is_agent(session, sam.id)
        assert [agent.capacity for agent, _ in list_agents(session)] == [3]
