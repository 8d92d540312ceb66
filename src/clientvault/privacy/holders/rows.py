"""Ready-made export and erase functions for holders whose rows name a customer.

Most holders do one of two things: keep one row per fact with a ``customer_id`` column (export
every column but the secret ones, delete the rows on erasure), or tie rows to a person through
other columns (a merge's survivor or absorbed profile, a candidate pair's two sides) and delete
what a condition selects. Building those functions here keeps each holder module down to its
declarations and the few rules that really differ.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from sqlalchemy import ColumnElement, delete

from clientvault.privacy.holders.registry import (
    HolderContext,
    HolderErasure,
    Rows,
    delete_rows,
    rows_of,
)
from clientvault.store.base import Base

Export = Callable[[HolderContext, Sequence[uuid.UUID]], Rows]
Erase = Callable[[HolderContext, Sequence[uuid.UUID]], HolderErasure]


def customer_rows(model: type[Base], *, exclude: Sequence[str] = ()) -> tuple[Export, Erase]:
    """The export and erase functions of a holder of ``model``'s rows by ``customer_id``.

    The export lists every column except ``exclude`` (keyed hashes, sealed bodies, token
    digests: they mean nothing to the person and must not leave the platform); the erase
    deletes the rows.
    """

    def export(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> Rows:
        return rows_of(ctx.session, model, customer_ids=customer_ids, exclude=exclude)

    def erase(ctx: HolderContext, customer_ids: Sequence[uuid.UUID]) -> HolderErasure:
        return delete_rows(ctx.session, model, customer_ids=customer_ids)

    return export, erase


def delete_where(
    ctx: HolderContext, model: type[Base], condition: ColumnElement[bool]
) -> HolderErasure:
    """Delete ``model``'s rows that ``condition`` selects and say how many went.

    For holders whose rows reach a person through other columns than ``customer_id`` (or
    that must delete related rows in one statement), where ``delete_rows`` does not fit.
    """
    result = ctx.session.execute(delete(model).where(condition))
    return HolderErasure("deleted", int(result.rowcount))  # type: ignore[attr-defined]
