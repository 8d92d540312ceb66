"""The personalised-content decision (``POST /v1/personalize``) vs the one look-up it cannot
avoid, same run, same database.

An installation gets ``--customers`` profiles written straight into the tables (``_synthetic``:
seeded, a million in minutes; each with a snippet anonymous id), an RFM group each, and a
``homepage-hero`` slot with two score variants and an offer variant over two offers.
``--visitors`` of them consent to personalisation. Ours: the decision call for each of those
visitors through the real app (write key and origin checked, consent checked through
``privacy.audiences``, scores read, offers ranked; nothing recorded), timed one by one in
process (``TestClient``), so the figure is the app's own, without a network. Baseline: the
indexed look-up of the same anonymous ids in ``customer_identities`` on the same engine — the
least any answer that depends on the visitor must do. Lines: ``personalize_decision[<backend>]:
ours p50 X ms p99 Y ms, baseline p50 X ms p99 Y ms, ratio (p50) Z``.

Usage: ``python bench/bench_personalize.py [--customers N] [--visitors N]`` (PostgreSQL too
when CLIENTVAULT_BENCH_PG_URL or CLIENTVAULT_TEST_PG_URL is set).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))

import _synthetic as synthetic
from _common import backends, blank_settings, percentiles_ms
from clientvault.app import create_app
from clientvault.automation.personalize import offers, slots
from clientvault.identity.profiles import find_by_identifier
from clientvault.ingest.sources import create_source
from clientvault.migrations.install import initialise
from clientvault.security.principal import Principal
from clientvault.store.context import Store

MARKETER = Principal.system("bench", "campaigns:manage")
GROUPS = ("champions", "loyal", "at_risk", "hibernating", "lost")
SLOT = {
    "key": "homepage-hero",
    "default": {"headline": "Welcome"},
    "variants": [
        {
            "name": "champions",
            "when": {"kind": "score", "score": "rfm_group", "label": "champions"},
            "content": {"headline": "Thank you"},
        },
        {
            "name": "loyal",
            "when": {"kind": "score", "score": "rfm_group", "label": "loyal"},
            "content": {"headline": "Good to see you"},
        },
        {"name": "offer", "when": {"kind": "offer"}, "content": {"headline": "For you: {offer}"}},
    ],
}
OFFERS = (
    {"key": "winback", "kind": "discount", "title": "10% off", "margin": 0.2},
    {"key": "guide", "kind": "content", "title": "Our guide", "margin": 0.1},
)


def _populate(store: Store, customers: int, visitors: int) -> list[str]:
    """The profiles, scores, consents, slot and offers; the consenting visitors' ids."""
    rng = random.Random(7)
    ids = synthetic.customer_ids(customers, seed=7)
    synthetic.add_customers(store, ids)
    synthetic.add_labels(store, ids, "rfm_group", GROUPS)
    chosen = rng.sample(range(customers), visitors)
    synthetic.add_consents(store, [ids[n] for n in chosen], ["personalisation"])
    with store.sessions.begin() as session:
        slots.save_slot(session, slots.read_spec(SLOT), create=True, by=MARKETER)
        for document in OFFERS:
            offers.save_offer(session, offers.read_offer(document), create=True, by=MARKETER)
    return [f"a-{n}" for n in chosen]


def run(backend: str, customers: int, visitors: int) -> None:
    """Populate a fresh installation on ``backend`` and print its line."""
    with blank_settings(backend) as settings:
        store = initialise(settings)
        chosen = _populate(store, customers, visitors)
        with store.sessions.begin() as session:
            write_key = create_source(session, name="bench-site").write_key
        app = create_app(settings, store=store)
        ours: list[float] = []
        with TestClient(app, base_url="https://testserver") as client:
            for anonymous_id in chosen[:20]:  # warm-up
                client.post(
                    "/v1/personalize",
                    json={
                        "writeKey": write_key,
                        "slot": "homepage-hero",
                        "anonymousId": anonymous_id,
                    },
                )
            for anonymous_id in chosen:
                body = {"writeKey": write_key, "slot": "homepage-hero", "anonymousId": anonymous_id}
                started = time.perf_counter()
                answer = client.post("/v1/personalize", json=body)
                ours.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text
        baseline: list[float] = []
        for anonymous_id in chosen:
            started = time.perf_counter()
            with store.sessions() as session:
                find_by_identifier(session, store, kind="anonymous_id", value=anonymous_id)
            baseline.append(time.perf_counter() - started)
        store.close()
    (o50, o99), (b50, b99) = percentiles_ms(ours), percentiles_ms(baseline)
    print(
        f"personalize_decision[{backend}] ({customers:,} customers): ours p50 {o50:.2f} ms "
        f"p99 {o99:.2f} ms, baseline p50 {b50:.2f} ms p99 {b99:.2f} ms, "
        f"ratio (p50) {o50 / b50:.1f}",
        flush=True,
    )


def main() -> None:
    """Measure and print one line per backend."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--visitors", type=int, default=500)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    for backend in [args.backend] if args.backend else backends():
        run(backend, args.customers, args.visitors)


if __name__ == "__main__":
    main()
