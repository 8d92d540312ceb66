"""Running Alembic programmatically on either database, with no alembic.ini to find."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

Target = Literal["data", "keystore"]
_HERE = Path(__file__).parent


def alembic_config(target: Target, engine: Engine) -> Config:
    """An Alembic configuration for one of the two databases, bound to ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(_HERE / target))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def upgrade(target: Target, engine: Engine, revision: str = "head") -> None:
    """Bring one database up to ``revision`` (default: the newest)."""
    command.upgrade(alembic_config(target, engine), revision)


def downgrade(target: Target, engine: Engine, revision: str) -> None:
    """Take one database down to ``revision`` (``base`` empties it)."""
    command.downgrade(alembic_config(target, engine), revision)


def pending(target: Target, engine: Engine) -> bool:
    """Whether the database is behind the newest migration."""
    script = ScriptDirectory.from_config(alembic_config(target, engine))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return set(current) != set(script.get_heads())
