"""The customer list: a keyset page deep in the list vs the same page by OFFSET, and a full
name search vs an exact e-mail look-up, on a base of ``--customers`` profiles.

Ours: ``customers.search.list_customers`` (default order, newest first) reaching the page at
``--depth`` rows by its cursor (one query whatever the depth), with the list's columns (last
seen, orders, revenue); and a search by full name (every split of the words into first and
last name, hashed and compared on the name blind indexes). Baselines, measured in the same
run: a bare ``ORDER BY created_at DESC, id DESC OFFSET depth LIMIT 50`` of customer rows (what
paging by page number costs), and the e-mail blind-index look-up the list had before.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).parent))

from _common import backends, fresh_installation, median_seconds, report
from clientvault.customers.search import CustomerListQuery, list_customers
from clientvault.identity.models import Customer
from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.security.principal import PII_REVEAL, Principal
from clientvault.store.base import new_id

READER = Principal.system("bench", "customers:read", PII_REVEAL)
SEED_PEOPLE = 1000
PAGE = 50


def _fill(store, count: int) -> None:  # type: ignore[no-untyped-def]
    """``SEED_PEOPLE`` real profiles, then copies of their rows (new ids, older dates)."""
    with store.sessions.begin() as session:
        create_customers(
            session,
            store,
            profiles=[
                CustomerCreate(
                    email=f"person{i}@example.com",
                    first_name=f"Camille{i}",
                    last_name=f"Durand{i}",
                    country="FR",
                    city="Paris",
                )
                for i in range(SEED_PEOPLE)
            ],
            source="bench",
            default_region="FR",
        )
    with store.sessions() as session:
        template = [
            {c.key: getattr(row, c.key) for c in Customer.__table__.columns}
            for row in session.scalars(select(Customer))
        ]
    for start in range(SEED_PEOPLE, count, 10_000):
        rows = []
        for n in range(start, min(count, start + 10_000)):
            row = dict(template[n % SEED_PEOPLE])
            row.update(id=new_id(), created_at=row["created_at"] - timedelta(minutes=n))
            rows.append(row)
        with store.engine.begin() as connection:
            connection.execute(insert(Customer.__table__), rows)


def run(backend: str, count: int, depth: int) -> None:
    """Measure both pairs on one backend and print their lines."""
    with fresh_installation(backend) as store:
        _fill(store, count)
        with store.read_sessions() as session:
            cursor = None
            for _ in range(depth // PAGE):  # walk once to get the cursor at that depth
                page = list_customers(
                    session,
                    store,
                    query=CustomerListQuery(cursor=cursor, limit=PAGE),
                    viewer=READER,
                    default_region="FR",
                )
                cursor = page.next_cursor

            def keyset() -> None:
                for _ in range(20):
                    list_customers(
                        session,
                        store,
                        query=CustomerListQuery(cursor=cursor, limit=PAGE),
                        viewer=READER,
                        default_region="FR",
                    )

            def offset() -> None:
                for _ in range(20):
                    session.scalars(
                        select(Customer)
                        .where(Customer.status.not_in(("erased", "merged")))
                        .order_by(Customer.created_at.desc(), Customer.id.desc())
                        .offset(depth)
                        .limit(PAGE)
                    ).all()

            def by_name() -> None:
                for i in range(20):
                    list_customers(
                        session,
                        store,
                        query=CustomerListQuery(q=f"Durand{i} camille{i}"),
                        viewer=READER,
                        default_region="FR",
                    )

            def by_email() -> None:
                for i in range(20):
                    list_customers(
                        session,
                        store,
                        query=CustomerListQuery(q=f"person{i}@example.com"),
                        viewer=READER,
                        default_region="FR",
                    )

            report(
                f"customer_list_page_at_{depth}[{backend}] (baseline: bare OFFSET rows)",
                ours=20 / median_seconds(keyset),
                baseline=20 / median_seconds(offset),
                unit="pages/s",
            )
            report(
                f"customer_list_name_search[{backend}] (baseline: e-mail look-up)",
                ours=20 / median_seconds(by_name),
                baseline=20 / median_seconds(by_email),
                unit="searches/s",
            )


def main() -> None:
    """Parse the options and run on every configured backend."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--depth", type=int, default=20_000)
    options = parser.parse_args()
    for backend in backends():
        run(backend, options.customers, options.depth)


if __name__ == "__main__":
    main()
