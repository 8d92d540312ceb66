"""security: SQLite refuses UPDATE and DELETE on the audit log too

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 20:00:00

PostgreSQL has refused them since 0001 (a trigger function). SQLite triggers live in the
database file and fire for every connection, whichever process opens it, so the same guard
holds there: the application cannot rewrite its own history by mistake or through an
injected statement. Someone who edits the file itself can drop them; the hash chain
(``security.audit``) still shows what such a person changed.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPERATIONS = ("UPDATE", "DELETE")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for operation in _OPERATIONS:
        op.execute(
            f"CREATE TRIGGER audit_log_refuse_{operation.lower()} BEFORE {operation} ON audit_log"
            f" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only ({operation} refused)'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for operation in _OPERATIONS:
        op.execute(f"DROP TRIGGER IF EXISTS audit_log_refuse_{operation.lower()}")
