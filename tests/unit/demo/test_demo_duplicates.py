"""Planted duplicates: how many, of whom, and that the changes named are the changes made."""

from __future__ import annotations

import random
from datetime import date

from clientvault.demo.duplicates import (
    DUPLICATE_RATE,
    abbreviate_street,
    make_duplicate,
    plan_duplicates,
    strip_accents,
    typo,
)
from clientvault.demo.people import make_person
from clientvault.demo.pools import build_pools
from clientvault.identity.normalise import normalise_email, normalise_phone


def test_about_five_percent_are_duplicates_of_earlier_originals() -> None:
    plan = plan_duplicates(seed=3, customers=20_000)
    assert abs(len(plan.originals) / 20_000 - DUPLICATE_RATE) < 0.01
    for copy, original in plan.originals.items():
        assert original < copy
        assert original not in plan.originals
    assert plan.copied == frozenset(plan.originals.values())
    assert plan_duplicates(seed=3, customers=20_000) == plan
    assert plan_duplicates(seed=4, customers=20_000) != plan


def test_a_typo_always_changes_the_name() -> None:
    rng = random.Random(1)
    for name in ("Martin", "Lefèvre", "Al", "Ng", "Øyvind", "Bernard-Dupont") * 50:
        assert typo(rng, name) != name
    assert strip_accents("Hélène Noël") == "Helene Noel"


def test_street_words_are_abbreviated() -> None:
    assert abbreviate_street("rue de la Paix") == "r. de la Paix"
    assert abbreviate_street("Goethestraße") == "Goethestr."
    assert abbreviate_street("Kerkpad") is None


def test_the_kinds_named_are_the_changes_made() -> None:
    pools = build_pools(9)
    rng = random.Random(9)
    emails: set[str] = set()
    phones: set[str] = set()
    seen: set[str] = set()
    for _ in range(600):
        original = make_person(
            rng, pools, today=date(2026, 1, 1), default_region="FR", emails=emails, phones=phones
        )
        copy, kinds = make_duplicate(
            rng, original, default_region="FR", emails=emails, phones=phones
        )
        assert kinds
        seen.update(kinds)
        if "exact_copy" in kinds:
            assert kinds == ["exact_copy"]
            assert copy.profile() == original.profile()
        names_changed = (copy.first_name, copy.last_name) != (
            original.first_name,
            original.last_name,
        )
        assert names_changed == bool({"name_typo", "names_swapped"} & set(kinds))
        if "names_swapped" in kinds:
            assert (copy.first_name, copy.last_name) == (original.last_name, original.first_name)
        same_email = (
            copy.email is not None
            and original.email is not None
            and (normalise_email(copy.email) == normalise_email(original.email))
        )
        if "email_case" in kinds:
            assert same_email
            assert copy.email != original.email
        if "email_changed" in kinds or "email_alias" in kinds:
            assert not same_email
            assert copy.email is not None
            assert copy.email.lower() in emails
        if "email_missing" in kinds:
            assert copy.email is None
        if "phone_format" in kinds:
            assert copy.phone == original.phone
            assert copy.profile().phone != original.profile().phone
            assert copy.phone is not None
            assert normalise_phone(copy.profile().phone or "", default_region="FR") == copy.phone
        if "phone_changed" in kinds:
            assert copy.phone != original.phone
        if "address_near" in kinds:
            assert copy.street_address != original.street_address
        assert copy.country == original.country
    assert seen >= {
        "name_typo",
        "names_swapped",
        "email_changed",
        "email_case",
        "email_alias",
        "phone_format",
        "address_near",
        "exact_copy",
    }
