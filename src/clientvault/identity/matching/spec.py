"""What probabilistic matching compares, written once for the batch job and the incremental path.

The comparisons are declared here as plain data (``COMPARISONS``); ``matching.splink`` turns them
into Splink comparison levels (SQL run by DuckDB) and ``level_of`` evaluates the very same levels
in Python for the few candidates of an incremental match. Both read the levels in the same order,
with the same column, function and threshold, and Splink's ``jaro_winkler_similarity`` and
``levenshtein`` (DuckDB's) are re-implemented below with the same definitions, so a pair gets the
same comparison vector — hence the same m/u parameters and match weight — on both paths (a unit
test checks the functions against DuckDB).

Blocking keys are also declared here: the batch job blocks on them in memory and the incremental
path stores their keyed hashes (``match_blocking_keys``), so both paths see the same candidates.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

#: The columns a matching record has (all normalised text or ``None``).
FEATURES = (
    "first_name",
    "last_name",
    "email",
    "email_local",
    "phone",
    "birth_date",
    "postcode",
    "city",
    "street",
    "external_id",
    "contested",
)

Record = Mapping[str, str | None]
LevelKind = Literal[
    "null",
    "exact",
    "swapped",
    "shares",
    "jaro_winkler",
    "levenshtein",
    "damerau_levenshtein",
    "token_jaccard",
    "crossed",
    "else",
]


@dataclass(frozen=True)
class Level:
    """One comparison level: ``column`` compared with ``kind`` at ``threshold``.

    ``jaro_winkler`` means similarity >= threshold, ``levenshtein`` distance <= threshold,
    ``damerau_levenshtein`` the same with a swap of two adjacent characters as one edit,
    ``token_jaccard`` that the words the two values share are at least ``threshold`` of all
    their words (a street written with its parts in another order, or one part missing);
    ``swapped`` means ``column`` on one side equals ``other`` on the other side (first and
    last name swapped); ``crossed`` that both are swapped, one of them perhaps with a typo
    (equal one way, similarity >= threshold the other way); ``shares`` means the two sides'
    space-separated values of ``column`` have one in common; ``null`` is "either side
    missing", ``else`` everything not caught above.
    A ``neutral`` level weighs nothing (m = u, fixed, not estimated): it takes the pairs whose
    evidence another comparison already counts, so it is not counted twice.
    """

    kind: LevelKind
    column: str = ""
    threshold: float = 0.0
    name: str = ""
    other: str = ""
    neutral: bool = False

    @property
    def label(self) -> str:
        """The human label stored in explanations (and Splink's ``label_for_charts``)."""
        if self.name:
            return self.name
        if self.kind == "jaro_winkler":
            return f"similarity >= {self.threshold:g}"
        if self.kind == "levenshtein":
            return f"edit distance <= {self.threshold:g}"
        if self.kind == "damerau_levenshtein":
            return f"edit distance <= {self.threshold:g} (transpositions)"
        if self.kind == "token_jaccard":
            return f"shared words >= {self.threshold:g}"
        return {"null": "missing", "exact": "exact", "else": "different"}[self.kind]


@dataclass(frozen=True)
class Comparison:
    """A named comparison: its levels from most to least specific (null first, else last)."""

    name: str
    column: str
    levels: tuple[Level, ...]


def _levels(column: str, *middle: Level) -> tuple[Level, ...]:
    return (Level("null", column), Level("exact", column), *middle, Level("else"))


def _name(column: str, other: str, *, first: bool) -> Comparison:
    """A name's levels. Names swapped between the fields are counted once by each comparison:
    the first name's by one name equal across the fields, the last name's by both (one
    perhaps mistyped), so a pair with one name in common counts it once, not twice."""
    swapped = (
        Level("swapped", column, other=other, name="swapped with " + other)
        if first
        else Level("crossed", column, 0.88, other=other, name="both names swapped")
    )
    return Comparison(
        column,
        column,
        _levels(
            column,
            swapped,
            Level("jaro_winkler", column, 0.92),
            Level("jaro_winkler", column, 0.8),
        ),
    )


COMPARISONS: tuple[Comparison, ...] = (
    _name("first_name", "last_name", first=True),
    _name("last_name", "first_name", first=False),
    Comparison(
        "email",
        "email",
        # Same mailbox name at another provider (or a +alias) is still strong evidence.
        _levels("email", Level("exact", "email_local", name="same mailbox name", neutral=True)),
    ),
    Comparison("phone", "phone", _levels("phone")),
    # Typed dates and codes: one character wrong, or two adjacent ones swapped (3059 / 3095).
    Comparison(
        "birth_date",
        "birth_date",
        _levels("birth_date", Level("damerau_levenshtein", "birth_date", 1)),
    ),
    Comparison(
        "postcode", "postcode", _levels("postcode", Level("damerau_levenshtein", "postcode", 1))
    ),
    # A shared postcode already implies the city: that level catches such pairs first so the
    # city adds no second helping of the same evidence (neutral: weight 0; estimated, its
    # u is a random pair's chance of one postcode and it counted the postcode again, the main
    # cause of false merges of neighbours); the city only counts where the postcodes differ.
    Comparison(
        "city",
        "city",
        (
            Level("null", "city"),
            Level("exact", "postcode", name="same postcode", neutral=True),
            Level("exact", "city"),
            Level("jaro_winkler", "city", 0.88),
            Level("else"),
        ),
    ),
    # A street is free text (number, street, building or locality, in any order, any part
    # perhaps left out): past a typo, the share of words in common.
    Comparison(
        "street",
        "street",
        _levels(
            "street",
            Level("jaro_winkler", "street", 0.88),
            Level("token_jaccard", "street", 0.6),
            Level("token_jaccard", "street", 0.3),
            Level("token_jaccard", "street", 0.2),
        ),
    ),
    Comparison("external_id", "external_id", _levels("external_id")),
    # An external id that one profile brought while another held it at its kind's limit
    # (``IdentifierConflict``; ``matching.store.CONTESTED_KINDS`` says why not e-mail and
    # phone): not a stitching link, but evidence weighed here like any other (``contested``
    # lists both profiles' such values). No "missing" level:
    # u is then the chance that two random profiles share such a value (tiny), not that two
    # profiles both in some conflict do (each conflict's two sides are such profiles, which
    # made u 50 times larger on 400 profiles and the evidence weak). Not sharing one is
    # neutral: most pairs of one person have no conflict at all (estimated, that level cost
    # every such pair 3 bits on FEBRL1 with its SSN, where a tenth of the pairs differ in it).
    Comparison(
        "contested_identifier",
        "contested",
        (
            Level("shares", "contested", name="shares an identifier value that hit its limit"),
            Level("else", name="shares none", neutral=True),
        ),
    ),
)


def _initial(value: str | None) -> str | None:
    return value[0] if value else None


def _joined(*parts: str | None) -> str | None:
    return None if any(not part for part in parts) else "|".join(str(p) for p in parts)


def _names_key(record: Record) -> str | None:
    first, last = record["first_name"], record["last_name"]
    return _joined(*sorted((first, last))) if first and last else None  # swap-proof


def _birth_initials_key(record: Record) -> str | None:
    first, last = _initial(record["first_name"]), _initial(record["last_name"])
    initials = "".join(sorted((first, last))) if first and last else None
    return _joined(record["birth_date"], initials)


def _year(value: str | None) -> str | None:
    return value[:4] if value else None


def _house(street: str | None) -> str | None:
    """The house number a street address starts with, if it does."""
    head = street.split(" ", 1)[0] if street else ""
    return head if head[:1].isdigit() else None


#: Blocking keys: two records are compared when they share the value of one of these. Each is
#: selective enough to keep blocks small and together they tolerate a typo in any one field.
#: A postcode goes with a whole name, never with an initial alone: a city's postcode is shared
#: by thousands of profiles, and "postcode + initial" blocks grew with the square of the base
#: (83% of the batch's pairs at 100k demo profiles, none of the true ones caught by it alone).
BLOCKING_KEYS: dict[str, Callable[[Record], str | None]] = {
    "name_year": lambda r: _joined(r["last_name"], _year(r["birth_date"])),
    "place_first": lambda r: _joined(r["postcode"], r["first_name"]),
    "place_last": lambda r: _joined(r["postcode"], r["last_name"]),
    # A mistyped postcode: the city with a name, or the postcode with the house number.
    "city_first": lambda r: _joined(r["city"], r["first_name"]),
    "city_last": lambda r: _joined(r["city"], r["last_name"]),
    "place_house": lambda r: _joined(r["postcode"], _house(r["street"])),
    "birth_initials": _birth_initials_key,
    # A new surname and a new address (a marriage, a move): the first name and birth date stay.
    "birth_first": lambda r: _joined(r["birth_date"], r["first_name"]),
    "names": _names_key,
    "birth_house": lambda r: _joined(r["birth_date"], _house(r["street"])),
    "birth_city": lambda r: _joined(r["birth_date"], r["city"]),
    "street": lambda r: r["street"],
    "email": lambda r: r["email"],
    "phone": lambda r: r["phone"],
    "external_id": lambda r: r["external_id"],
}


#: Blocks of more than this many profiles are not used, by the batch job nor the incremental
#: path: sharing such a value (a common first name in a big city, a placeholder e-mail) says
#: little, and its pairs grow with the square of the block. The keys on a city and a name
#: find a person whose postcode was mistyped and one name replaced (a third of FEBRL1's
#: misses before they came), but a big city's blocks grow with the base: 56M pairs at 1M
#: demo profiles uncapped, 22M at 200 (estimated from 10k's blocks); none of the other keys
#: has a block this big at 1M demo profiles (the biggest holds 170: a surname and birth
#: year).
MAX_BLOCK = 200


def blocking_keys(record: Record) -> dict[str, str]:
    """The blocking keys a record has (kinds whose parts are missing are left out)."""
    keys = {kind: make(record) for kind, make in BLOCKING_KEYS.items()}
    return {kind: value for kind, value in keys.items() if value}


_NOT_LETTERS = re.compile(r"[^a-z ]+")
_SPACES = re.compile(r"\s+")


def fold(value: str | None) -> str | None:
    """Lower-case ASCII letters and single spaces (accents, punctuation and digits dropped):
    the form names and places are compared in."""
    if value is None:
        return None
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    text = _SPACES.sub(" ", _NOT_LETTERS.sub(" ", ascii_text.lower())).strip()
    return text or None


def fold_name(value: str | None) -> str | None:
    """A person's name as compared: ``fold`` without spaces, so a name written in parts or
    joined ("Le Roux", "Leroux", "Jean-Luc", "Jeanluc") or with a stray space is one value."""
    folded = fold(value)
    return folded.replace(" ", "") if folded else None


def squeeze(value: str | None) -> str | None:
    """Lower-cased with whitespace collapsed; empty becomes ``None``."""
    if value is None:
        return None
    return _SPACES.sub(" ", value).strip().lower() or None


def matching_record(
    *,
    first_name: str | None,
    last_name: str | None,
    email: str | None,
    phone: str | None,
    birth_date: str | None,
    postal_code: str | None,
    city: str | None,
    street: str | None,
    external_id: str | None,
    contested: Iterable[str] = (),
) -> dict[str, str | None]:
    """The normalised record matching compares, from a profile's (decrypted) identifiers;
    ``contested``: keys of the identifier values it is in conflict over (as keeper or holder;
    ``matching.store.contested_identifiers``)."""
    mail = squeeze(email)
    return {
        "first_name": fold_name(first_name),
        "last_name": fold_name(last_name),
        "email": mail,
        "email_local": mail.split("@", 1)[0].split("+", 1)[0] if mail and "@" in mail else None,
        "phone": squeeze(phone),
        "birth_date": squeeze(birth_date),
        "postcode": _SPACES.sub("", postal_code).upper() or None if postal_code else None,
        "city": fold(city),
        "street": squeeze(street),
        "external_id": external_id or None,
        "contested": " ".join(sorted(set(contested))) or None,
    }


#: The levels of a comparison ask for one pair's similarity at several thresholds: computed once.
@functools.lru_cache(maxsize=4096)
def jaro_winkler(left: str, right: str) -> float:
    """Jaro-Winkler similarity as DuckDB's ``jaro_winkler_similarity`` computes it (prefix
    scale 0.1, common prefix up to 4, applied when the Jaro similarity exceeds 0.7)."""
    len_l, len_r = len(left), len(right)
    if not len_l or not len_r:
        return 0.0
    if left == right:
        return 1.0
    window = max(max(len_l, len_r) // 2 - 1, 0)
    matched_r = [False] * len_r
    left_matches: list[str] = []
    for i, char in enumerate(left):
        for j in range(max(0, i - window), min(len_r, i + window + 1)):
            if not matched_r[j] and right[j] == char:
                matched_r[j] = True
                left_matches.append(char)
                break
    matches = len(left_matches)
    if not matches:
        return 0.0
    right_matches = [right[j] for j in range(len_r) if matched_r[j]]
    transpositions = sum(a != b for a, b in zip(left_matches, right_matches, strict=True)) // 2
    jaro = (matches / len_l + matches / len_r + (matches - transpositions) / matches) / 3
    if jaro <= 0.7:
        return jaro
    prefix = 0
    for a, b in zip(left[:4], right[:4], strict=False):
        if a != b:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)


def levenshtein(left: str, right: str) -> int:
    """Edit distance (insertions, deletions, substitutions), as DuckDB's ``levenshtein``."""
    if len(left) < len(right):
        left, right = right, left
    previous = list(range(len(right) + 1))
    for i, char_l in enumerate(left, 1):
        current = [i]
        for j, char_r in enumerate(right, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_l != char_r))
            )
        previous = current
    return previous[-1]


def damerau_levenshtein(left: str, right: str) -> int:
    """Edit distance where a swap of two adjacent characters is one edit, even with edits
    between them later (the unrestricted distance), as DuckDB's ``damerau_levenshtein``
    (Lowrance-Wagner)."""
    infinity = len(left) + len(right)
    last_row: dict[str, int] = {}
    rows = [[infinity] * (len(right) + 2) for _ in range(len(left) + 2)]
    for i in range(len(left) + 1):
        rows[i + 1][1] = i
    for j in range(len(right) + 1):
        rows[1][j + 1] = j
    for i, char_l in enumerate(left, 1):
        last_match_column = 0
        for j, char_r in enumerate(right, 1):
            k, previous_column = last_row.get(char_r, 0), last_match_column
            cost = 0 if char_l == char_r else 1
            if not cost:
                last_match_column = j
            rows[i + 1][j + 1] = min(
                rows[i][j] + cost,
                rows[i + 1][j] + 1,
                rows[i][j + 1] + 1,
                rows[k][previous_column] + (i - k - 1) + 1 + (j - previous_column - 1),
            )
        last_row[char_l] = i
    return rows[len(left) + 1][len(right) + 1]


def token_jaccard(left: str, right: str) -> float:
    """Words (split on single spaces) in both values over words in either: the SQL level
    divides the lengths of DuckDB's ``list_intersect`` and ``list_distinct`` of the same
    words."""
    words_l, words_r = set(left.split(" ")), set(right.split(" "))
    return len(words_l & words_r) / len(words_l | words_r)


def _holds(level: Level, left: Record, right: Record) -> bool:
    a, b = left.get(level.column), right.get(level.column)
    if level.kind == "else":
        return True
    if level.kind == "null":
        return a is None or b is None
    if a is None or b is None:
        return False  # SQL: a comparison with NULL is not true
    if level.kind == "exact":
        return a == b
    if level.kind == "swapped":
        return a == right.get(level.other) or left.get(level.other) == b
    if level.kind == "crossed":
        other_l, other_r = left.get(level.other), right.get(level.other)
        if other_l is None or other_r is None:
            return False
        return (a == other_r and jaro_winkler(other_l, b) >= level.threshold) or (
            other_l == b and jaro_winkler(a, other_r) >= level.threshold
        )
    if level.kind == "shares":
        return not set(a.split()).isdisjoint(b.split())
    if level.kind == "jaro_winkler":
        return jaro_winkler(a, b) >= level.threshold
    if level.kind == "token_jaccard":
        return token_jaccard(a, b) >= level.threshold
    if level.kind == "damerau_levenshtein":
        return damerau_levenshtein(a, b) <= level.threshold
    return levenshtein(a, b) <= level.threshold


def level_of(comparison: Comparison, left: Record, right: Record) -> int:
    """The index (in ``comparison.levels``) of the first level a pair satisfies — the level a
    Splink ``CASE WHEN`` over the same levels picks."""
    for index, level in enumerate(comparison.levels):
        if _holds(level, left, right):
            return index
    raise AssertionError("the else level always holds")  # pragma: no cover
