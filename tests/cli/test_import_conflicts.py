"""A known external id on a second record, through ``clientvault import customers`` and
``clientvault identity resolve``: kept on its profile (not dropped), counted by the import,
and weighed by matching, so the two records become one person or a pair for review — also
records that nothing else would have compared (another surname, another address)."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from clientvault.cli.app import app
from clientvault.identity.incremental import parameters_from_settings
from clientvault.identity.matching.store import latest_model
from clientvault.identity.models import (
    Customer,
    IdentifierConflict,
    MatchCandidate,
)
from clientvault.ingest import identity_matching
from clientvault.ingest.consumers import drain
from clientvault.store.context import Store
from support.identity_eval import customer_of
from support.matching_people import duplicate, people

runner = CliRunner()
SHARES = "shares an identifier value that hit its limit"
HEADER = ["crm", "first", "last", "email", "birth", "street", "postcode", "city", "ssn"]
MAPPING = [
    "userId=crm",
    "firstName=first",
    "lastName=last",
    "email=email",
    "birthday=birth",
    "street=street",
    "postalCode=postcode",
    "city=city",
    "externalId.ssn=ssn",
]


def _row(crm: str, person: object, ssn: str) -> list[str]:
    values = person.model_dump()  # type: ignore[attr-defined]
    return [
        crm,
        values["first_name"] or "",
        values["last_name"] or "",
        values["email"] or "",
        values["birth_date"].isoformat() if values["birth_date"] else "",
        values["street_address"] or "",
        values["postal_code"] or "",
        values["city"] or "",
        ssn,
    ]


def _csv(rows: list[list[str]], path: Path) -> Path:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([HEADER, *rows])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _import(data_dir: Path, file: Path) -> str:
    maps = [option for pair in MAPPING for option in ("--map", pair)]
    result = runner.invoke(
        app, ["import", "customers", str(file), *maps, "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _linked(db: Store, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """For each pair of CRM ids: "one person", "pending" or "apart"."""
    with db.read_sessions() as session:
        roots = {
            c: m or c for c, m in session.execute(select(Customer.id, Customer.merged_into_id))
        }
        pending = {
            frozenset((roots[left], roots[right]))
            for left, right in session.execute(
                select(MatchCandidate.left_id, MatchCandidate.right_id).where(
                    MatchCandidate.status == "pending"
                )
            )
        }
    found = {}
    for one, other in pairs:
        a, b = roots[customer_of(db, "user_id", one)], roots[customer_of(db, "user_id", other)]
        found[(one, other)] = (
            "one person" if a == b else "pending" if frozenset((a, b)) in pending else "apart"
        )
    return found


def test_a_known_ssn_on_a_second_record_is_kept_and_links_the_records(
    data_dir: Path, db: Store, tmp_path: Path
) -> None:
    rng = random.Random(5)
    crowd = people(360, seed=5)
    rows = [_row(f"crm-{n}", person, f"{900000 + n}") for n, person in enumerate(crowd)]
    # Second records carrying the first's SSN: 30 with a typo (names, e-mail or phone), 20 of
    # somebody who moved (another address and e-mail), 12 who moved and changed surname too
    # (the same first name, birth date and SSN only: nothing else would compare them).
    pairs = []
    for n in range(30):
        rows.append(_row(f"crm-typo-{n}", duplicate(rng, crowd[n], n % 3), f"{900000 + n}"))
        pairs.append((f"crm-{n}", f"crm-typo-{n}"))
    for n in range(30, 62):
        elsewhere = crowd[300 + n - 30]
        changes = {
            "email": f"moved{n}@example.com",
            "street_address": elsewhere.street_address,
            "postal_code": elsewhere.postal_code,
            "city": elsewhere.city,
        }
        if n >= 50:
            changes["last_name"] = elsewhere.last_name
        rows.append(_row(f"crm-moved-{n}", crowd[n].model_copy(update=changes), f"{900000 + n}"))
        pairs.append((f"crm-{n}", f"crm-moved-{n}"))
    placeholder = crowd[350].model_copy(update={"email": "test@example.com"})
    rows.append(_row("crm-placeholder", placeholder, "555000"))

    shown = _import(data_dir, _csv(rows, tmp_path / "crm.csv"))
    assert "423 rows read, 423 accepted" in shown
    assert "62 identifiers already held by another customer" in shown
    assert "1 placeholder identifier values dropped" in shown
    with db.read_sessions() as session:
        kept = session.scalar(select(func.count()).select_from(IdentifierConflict))
    assert kept == 62

    resolved = runner.invoke(
        app, ["identity", "resolve", "--data-dir", str(data_dir), "--seed", "3"]
    )
    assert resolved.exit_code == 0, resolved.output
    outcome = _linked(db, pairs)
    assert [pair for pair, state in outcome.items() if state == "apart"] == []
    # The renamed and moved: compared and weighed for their shared SSN.
    renamed = {
        (customer_of(db, "user_id", f"crm-{n}"), customer_of(db, "user_id", f"crm-moved-{n}"))
        for n in range(50, 62)
    }
    with db.read_sessions() as session:
        explanations = [
            explanation
            for left, right, explanation in session.execute(
                select(MatchCandidate.left_id, MatchCandidate.right_id, MatchCandidate.explanation)
            )
            if (left, right) in renamed or (right, left) in renamed
        ]
    assert len(explanations) == 12
    for explanation in explanations:
        levels = {item["comparison"]: item["level"] for item in explanation}
        assert levels["contested_identifier"] == "shares an identifier value that hit its limit"
        assert levels["last_name"] == "different"

    with db.read_sessions() as session:
        model = latest_model(session)
    assert model is not None
    [weights] = [
        dict(zip((level.label for level in comparison.levels), levels, strict=True))
        for comparison, levels in parameters_from_settings(model.settings).weights
        if comparison.name == "contested_identifier"
    ]
    assert set(weights) == {SHARES, "shares none"}
    assert weights["shares none"] == 0.0  # most pairs of one person have no conflict
    assert weights[SHARES] > 8  # strong evidence: 2^8 times likelier for one person

    # After training, a new record carrying a known SSN is matched incrementally at once,
    # found through the conflict alone (another surname, address and e-mail).
    elsewhere = crowd[359]
    late = crowd[100].model_copy(
        update={
            "last_name": "Vasseur",
            "email": "late@example.com",
            "street_address": elsewhere.street_address,
            "postal_code": elsewhere.postal_code,
            "city": elsewhere.city,
        }
    )
    shown = _import(data_dir, _csv([_row("crm-late", late, "900100")], tmp_path / "late.csv"))
    assert "1 identifiers already held by another customer" in shown
    drain(db, identity_matching.CONSUMER)
    assert _linked(db, [("crm-100", "crm-late")])[("crm-100", "crm-late")] != "apart"
