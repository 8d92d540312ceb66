"""Synthetic people: reserved e-mail domains, valid phone numbers, plausible attributes."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date

import phonenumbers
import pytest

from clientvault.demo.locales import COUNTRIES
from clientvault.demo.people import EMAIL_DOMAINS, Person, ascii_slug, make_person
from clientvault.demo.phones import STYLES_NATIONAL, format_phone, random_mobile, styles_for
from clientvault.demo.pools import build_pools
from clientvault.identity.normalise import normalise_email, normalise_phone

TODAY = date(2026, 6, 15)


@pytest.fixture(scope="module")
def people() -> list[Person]:
    pools = build_pools(5)
    rng = random.Random(5)
    emails: set[str] = set()
    phones: set[str] = set()
    return [
        make_person(rng, pools, today=TODAY, default_region="FR", emails=emails, phones=phones)
        for _ in range(1500)
    ]


@pytest.mark.parametrize("country", [c.code for c in COUNTRIES])
def test_mobile_numbers_are_valid_in_every_style(country: str) -> None:
    rng = random.Random(country)
    for _ in range(200):
        e164 = random_mobile(rng, country)
        number = phonenumbers.parse(e164, None)
        assert phonenumbers.is_valid_number(number)
        assert phonenumbers.region_code_for_number(number) == country
        assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
        for style in styles_for(country, country):
            written = format_phone(e164, country, style)
            assert normalise_phone(written, default_region=country) == e164, (style, written)


def test_national_styles_are_only_used_in_the_default_region() -> None:
    assert set(STYLES_NATIONAL) <= set(styles_for("FR", "fr"))
    assert not set(STYLES_NATIONAL) & set(styles_for("DE", "FR"))


def test_e_mails_are_unique_valid_and_on_reserved_domains_only(people: list[Person]) -> None:
    emails = [p.email for p in people if p.email]
    assert len(emails) > 0.9 * len(people)
    assert len({normalise_email(e) for e in emails}) == len(emails)
    assert {e.rsplit("@", 1)[1] for e in emails} == set(EMAIL_DOMAINS)


def test_phones_are_unique_and_profiles_pass_the_real_validation(people: list[Person]) -> None:
    phones = [p.phone for p in people if p.phone]
    assert len(set(phones)) == len(phones) > 0.7 * len(people)
    for person in people:
        profile = person.profile()
        if profile.phone:
            assert normalise_phone(profile.phone, default_region="FR") == person.phone
        assert profile.country == person.country.code
        assert profile.language == person.country.language


def test_the_population_is_mostly_french_and_adult_with_traits(people: list[Person]) -> None:
    countries = Counter(p.country.code for p in people)
    assert countries.most_common(1)[0][0] == "FR"
    assert 0.5 < countries["FR"] / len(people) < 0.75
    assert len(countries) == len(COUNTRIES)
    births = [p.birth_date for p in people if p.birth_date]
    assert len(births) > 0.75 * len(people)
    assert all(18 <= (TODAY - b).days / 365.25 <= 87 for b in births)
    for person in people:
        traits = person.traits
        assert {
            "interests",
            "lifestyle",
            "price_sensitivity",
            "preferred_channel",
            "values",
        } <= set(traits)
        assert traits["interests"]
        assert traits["price_sensitivity"] in {"low", "medium", "high"}
    assert {p.gender for p in people} >= {"female", "male"}
    assert len({p.city for p in people}) > 50


def test_slugs_fold_accents_and_drop_punctuation() -> None:
    assert ascii_slug("Éloïse-Marie d'Aubigné") == "eloisemariedaubigne"
    assert ascii_slug("Müller") == "muller"
