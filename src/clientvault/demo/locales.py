"""The countries demo customers live in: Faker locale, language, share of customers, how
addresses are written, and the main cities with real postcode ranges (public reference data,
so that coarse city and postal-prefix segments look real)."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    """A city, its relative weight among the country's customers, and its postcode prefixes."""

    name: str
    weight: float
    prefixes: tuple[str, ...]


@dataclass(frozen=True)
class Country:
    """Where a share of the demo customers live."""

    code: str  # ISO 3166-1 alpha-2
    locale: str  # Faker locale for names and streets
    language: str  # ISO 639-1, the customer's ``language``
    weight: float  # share of customers
    address_format: str  # "{number}" and "{street}"
    postcode_format: str  # "#": digit, "?": upper-case letter, "{prefix}": the city prefix
    cities: tuple[City, ...]
    #: Share of customers living outside the listed cities (Faker city and postcode).
    elsewhere: float = 0.3

    @property
    def web_locale(self) -> str:
        """The browser locale of the customer's sessions (``fr-FR``)."""
        return f"{self.language}-{self.code}"


def _numbered(prefix: str, first: int, last: int, width: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{n:0{width}d}" for n in range(first, last + 1))


COUNTRIES: tuple[Country, ...] = (
    Country(
        code="FR",
        locale="fr_FR",
        language="fr",
        weight=0.62,
        address_format="{number} {street}",
        postcode_format="{prefix}",
        cities=(
            City("Paris", 21.0, _numbered("750", 1, 20, 2)),
            City("Marseille", 8.7, _numbered("130", 1, 16, 2)),
            City("Lyon", 5.2, _numbered("6900", 1, 9, 1)),
            City("Toulouse", 4.9, ("31000", "31100", "31200", "31300", "31400", "31500")),
            City("Nice", 3.4, ("06000", "06100", "06200", "06300")),
            City("Nantes", 3.2, ("44000", "44100", "44200", "44300")),
            City("Montpellier", 2.9, ("34000", "34070", "34080", "34090")),
            City("Strasbourg", 2.9, ("67000", "67100", "67200")),
            City("Bordeaux", 2.6, ("33000", "33100", "33200", "33300", "33800")),
            City("Lille", 2.3, ("59000", "59160", "59260", "59777", "59800")),
            City("Rennes", 2.2, ("35000", "35200", "35700")),
            City("Reims", 1.8, ("51100",)),
            City("Toulon", 1.8, ("83000", "83100", "83200")),
            City("Grenoble", 1.6, ("38000", "38100")),
            City("Dijon", 1.6, ("21000",)),
            City("Angers", 1.5, ("49000", "49100")),
            City("Clermont-Ferrand", 1.5, ("63000", "63100")),
            City("Le Havre", 1.7, ("76600", "76610", "76620")),
            City("Tours", 1.4, ("37000", "37100", "37200")),
            City("Limoges", 1.3, ("87000", "87100", "87280")),
        ),
    ),
    Country(
        code="DE",
        locale="de_DE",
        language="de",
        weight=0.09,
        address_format="{street} {number}",
        postcode_format="{prefix}##",
        cities=(
            City("Berlin", 37.0, ("101", "104", "105", "107", "109", "120", "130")),
            City("Hamburg", 18.0, ("200", "201", "202", "203", "220", "221")),
            City("München", 15.0, ("803", "804", "806", "807", "809", "813")),
            City("Köln", 11.0, ("506", "507", "508", "509", "510")),
            City("Frankfurt am Main", 7.6, ("603", "604", "605", "659")),
            City("Stuttgart", 6.3, ("701", "703", "705")),
            City("Düsseldorf", 6.2, ("402", "404", "405", "406")),
            City("Leipzig", 6.0, ("041", "042", "043")),
        ),
    ),
    Country(
        code="ES",
        locale="es_ES",
        language="es",
        weight=0.07,
        address_format="{street}, {number}",
        postcode_format="{prefix}##",
        cities=(
            City("Madrid", 33.0, ("280",)),
            City("Barcelona", 16.0, ("080",)),
            City("Valencia", 8.0, ("460",)),
            City("Sevilla", 7.0, ("410",)),
            City("Zaragoza", 6.7, ("500",)),
            City("Málaga", 5.8, ("290",)),
            City("Bilbao", 3.5, ("480",)),
        ),
    ),
    Country(
        code="IT",
        locale="it_IT",
        language="it",
        weight=0.07,
        address_format="{street} {number}",
        postcode_format="{prefix}##",
        cities=(
            City("Roma", 28.0, ("001",)),
            City("Milano", 14.0, ("201",)),
            City("Napoli", 9.0, ("801",)),
            City("Torino", 8.5, ("101",)),
            City("Palermo", 6.3, ("901",)),
            City("Genova", 5.6, ("161",)),
            City("Bologna", 3.9, ("401",)),
            City("Firenze", 3.6, ("501",)),
        ),
    ),
    Country(
        code="NL",
        locale="nl_NL",
        language="nl",
        weight=0.05,
        address_format="{street} {number}",
        postcode_format="{prefix}## ??",
        cities=(
            City("Amsterdam", 9.2, ("10", "11")),
            City("Rotterdam", 6.5, ("30", "31")),
            City("Den Haag", 5.5, ("25",)),
            City("Utrecht", 3.6, ("35",)),
            City("Eindhoven", 2.3, ("56",)),
        ),
    ),
    Country(
        code="BE",
        locale="nl_BE",
        language="nl",
        weight=0.05,
        address_format="{street} {number}",
        postcode_format="{prefix}#",
        cities=(
            City("Antwerpen", 5.3, ("200", "201", "202")),
            City("Gent", 2.6, ("900", "903", "904")),
            City("Brugge", 1.2, ("800",)),
            City("Leuven", 1.0, ("300", "301")),
        ),
    ),
    Country(
        code="GB",
        locale="en_GB",
        language="en",
        weight=0.05,
        address_format="{number} {street}",
        postcode_format="{prefix} #??",
        cities=(
            City(
                "London", 89.0, ("E1", "E14", "N1", "N7", "NW1", "SE1", "SE15", "SW4", "SW11", "W2")
            ),
            City("Birmingham", 11.0, ("B1", "B5", "B15", "B29")),
            City("Manchester", 5.5, ("M1", "M4", "M14", "M20")),
            City("Leeds", 7.9, ("LS1", "LS6", "LS11")),
            City("Bristol", 4.6, ("BS1", "BS5", "BS8")),
        ),
    ),
)

#: Postcode letters (the UK and the Netherlands leave out a few; so do we, loosely).
_LETTERS = "".join(c for c in string.ascii_uppercase if c not in "CIKMOV")


def fill_postcode(template: str, prefix: str, rng: random.Random) -> str:
    """A postcode from a country's template: ``#`` a digit, ``?`` a letter."""
    out = []
    for char in template.replace("{prefix}", "\x00"):
        if char == "\x00":
            out.append(prefix)
        elif char == "#":
            out.append(str(rng.randrange(10)))
        elif char == "?":
            out.append(rng.choice(_LETTERS))
        else:
            out.append(char)
    return "".join(out)
