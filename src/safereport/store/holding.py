"""Which of a case's own tables hold no row of it, known for the rest of one read transaction.

A case page reads a dozen of the case's lists (notes, safety plan, MARAC actions and referrals,
transfers, requests, consents, her requests, outcomes, attachments), most of them empty for
most cases. :func:`hold` asks, in one statement, which of those tables hold any row of the case;
until the transaction it ran in ends, each list read of this layer that finds its table in that
answer's empty set returns its empty list without a statement of its own (issue 13: each
statement lets go of the interpreter and queues to take it back behind the other requests).

Sound by construction: a table is skipped only when it held no row with this ``case_id`` at
all, in the same transaction, and every skipped read selects rows of that table by that
``case_id`` (and more). The memo is tied to the transaction object it was read in, so a later
transaction on the same pooled connection never sees it. On SQLite a read transaction is one
snapshot, so the skip is exact; on PostgreSQL (read committed) the page's lists already come
from successive moments, and a skipped list is the list as of the moment of :func:`hold`.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, exists, select

__all__ = ["hold", "holds_none"]

_KEY = "safereport.case_holding"


def hold(conn: Connection, case_id: str, tables: Sequence[Table]) -> frozenset[str]:
    """Read which of ``tables`` (each with a ``case_id`` column) hold no row of ``case_id``;
    :func:`holds_none` answers from it until ``conn``'s current transaction ends. Returns the
    names of the tables that hold none."""
    row = conn.execute(_query(tuple(tables)), {"case_id": case_id}).one()
    empty = frozenset(table.name for table, held in zip(tables, row, strict=True) if not held)
    transaction = conn.get_transaction()
    if transaction is not None:
        conn.info[_KEY] = (weakref.ref(transaction), case_id, empty)
    return empty


@cache
def _query(tables: tuple[Table, ...]) -> Any:
    """One ``EXISTS`` per table, built once per set of tables."""
    return select(*[
        exists().where(table.c.case_id == bindparam("case_id")).label(table.name)
        for table in tables
    ])


def holds_none(conn: Connection, table: Table, case_id: str) -> bool:
    """True only when :func:`hold` found, in ``conn``'s current transaction, that ``table``
    holds no row of ``case_id``; otherwise False (read it)."""
    known = conn.info.get(_KEY)
    if known is None:
        return False
    transaction, held_case, empty = known
    current = conn.get_transaction()
    return (
        current is not None and transaction() is current and current.is_active
        and held_case == case_id and table.name in empty
    )
