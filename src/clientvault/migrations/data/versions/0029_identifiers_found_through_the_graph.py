"""identity: a profile's e-mail and phone found through the identity graph's lookup index

The customers' own indexes of ``email_index`` and ``phone_index`` repeated what the graph's
lookup index (``customer_identities``: kind, value) already holds, and each imported row
added an entry at a random place of both; identifier conflicts get a lookup index of their
own, so a value kept in conflict is found as a linked one is.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-08 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_customers_email_index", table_name="customers")
    op.drop_index("ix_customers_phone_index", table_name="customers")
    op.create_index(
        "ix_identifier_conflicts_lookup", "identifier_conflicts", ["kind", "value_index"]
    )


def downgrade() -> None:
    op.drop_index("ix_identifier_conflicts_lookup", table_name="identifier_conflicts")
    op.create_index("ix_customers_phone_index", "customers", ["phone_index"])
    op.create_index("ix_customers_email_index", "customers", ["email_index"])
