"""Creating customers with encryption through the store vs a raw executemany of the same rows.

Ours: ``create_customers`` (normalise, create and wrap a data key per customer in the
keystore, seal seven fields, blind-index e-mail and phone, insert customers and identities).
Baseline: the very same sealed ``customers`` rows inserted with one ``executemany`` in one
transaction into the same kind of database. Both sides are measured in this run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).parent))

from _common import backends, fresh_installation, median_seconds, report
from clientvault.identity.models import Customer
from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.store.base import new_id

BATCH = 1000


def _profiles(count: int) -> list[CustomerCreate]:
    return [
        CustomerCreate(
            email=f"customer{i}@example.com",
            phone=f"06{i % 100_000_000:08d}",
            first_name="Camille",
            last_name=f"Durand{i}",
            street_address=f"{i % 300} rue de la Paix",
            postal_code="75002",
            city="Paris",
            country="FR",
        )
        for i in range(count)
    ]


def run(backend: str, count: int) -> None:
    """Measure both sides on one backend and print the ratio."""
    profiles = _profiles(count)
    with fresh_installation(backend) as store:

        def ours() -> None:
            for start in range(0, count, BATCH):
                with store.sessions.begin() as session:
                    create_customers(
                        session,
                        store,
                        profiles=profiles[start : start + BATCH],
                        source="bench",
                        default_region="FR",
                    )

        ours_seconds = median_seconds(ours)
        with store.sessions() as session:
            template = [
                {c.key: getattr(row, c.key) for c in Customer.__table__.columns}
                for row in session.scalars(select(Customer).limit(count))
            ]

        def baseline() -> None:
            rows = [{**row, "id": new_id()} for row in template]
            with store.engine.begin() as connection:
                connection.execute(insert(Customer.__table__), rows)

        baseline_seconds = median_seconds(baseline)
    report(
        f"store_customers[{backend}]",
        ours=count / ours_seconds,
        baseline=count / baseline_seconds,
        unit="customers/s",
    )


def main() -> None:
    """Parse options and run on every available backend."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()
    for backend in backends():
        run(backend, args.customers)


if __name__ == "__main__":
    main()
