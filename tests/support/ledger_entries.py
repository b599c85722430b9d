"""Reading the ledger back in audit tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from safereport.ledger.record import parse_leaf
from safereport.services.instance import Instance
from safereport.store.ledger import ledger_entries


def entries(instance: Instance) -> list[dict[str, Any]]:
    """Every ledger record, oldest first, with its index and detail."""
    with instance.engine.connect() as conn:
        rows = conn.execute(
            select(ledger_entries.c.idx, ledger_entries.c.leaf).order_by(ledger_entries.c.idx)
        ).all()
    return [{"idx": row.idx, **parse_leaf(bytes(row.leaf))} for row in rows]


def size(instance: Instance) -> int:
    return len(entries(instance))
