"""Ledger tables: the entries (private), the tree's perfect-subtree hashes, signed checkpoints.

``ledger_entries`` is read by the statistics engine through its plain columns; ``leaf`` holds
the exact bytes hashed into the tree. ``case_id`` is not a foreign key, so erasing a case
never breaks the log. ``ledger_nodes`` holds the hash of every complete subtree of level 1 and
above (level 0 is ``ledger_entries.leaf_hash``), written in the same transaction as the leaf
that completes it: any proof then reads O(log n) rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    Select,
    String,
    Table,
    Text,
    and_,
    func,
    select,
)

from safereport.store.metadata import metadata

__all__ = [
    "NODE_LEVEL_SHIFT",
    "EntryRow",
    "RulesCount",
    "counts_by_rules",
    "entries_by_actor",
    "latest_denials",
    "ledger_checkpoints",
    "ledger_entries",
    "ledger_nodes",
]

#: A 64-bit key that on SQLite is the table's rowid (``INTEGER PRIMARY KEY``): a ``BIGINT``
#: key there is a second b-tree that every append also writes (issue 13, migrations 0021 and
#: 0022).
RowKey = BigInteger().with_variant(Integer(), "sqlite")

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("idx", RowKey, primary_key=True, autoincrement=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # No index of its own: ix_ledger_entries_month_case (store/stats.py) leads with it.
    Column("month", String(7), nullable=False),
    Column("case_id", String(32), nullable=True, index=True),
    Column("actor_id", String(64), nullable=False),
    Column("actor_role", String(32), nullable=False),
    Column("actor_org_kind", String(32), nullable=True),
    Column("holder", String(32), nullable=False),
    Column("action", String(32), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("effect", String(16), nullable=False),
    Column("rules", Text, nullable=False),
    Column("regime", String(64), nullable=False),
    Column("leaf", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
)

#: ``node`` is ``level << NODE_LEVEL_SHIFT | index``: one integer key, so that fetching the
#: O(log n) nodes of a proof is one primary-key ``IN`` lookup with a cacheable statement.
NODE_LEVEL_SHIFT = 48

ledger_nodes = Table(
    "ledger_nodes",
    metadata,
    Column("node", RowKey, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", RowKey, primary_key=True, autoincrement=False),  # one per batch: 0022
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class EntryRow:
    """An entry's plain columns (never its leaf): who did what, to which case, and the outcome.
    ``rules`` holds the rule ids separated by spaces."""

    idx: int
    created_at: datetime
    case_id: str | None
    actor_role: str
    actor_org_kind: str | None
    holder: str
    action: str
    purpose: str
    recipient: str
    effect: str
    rules: str


@dataclass(frozen=True, slots=True)
class RulesCount:
    """How many entries share one set of rules (space-separated) and one effect."""

    rules: str
    effect: str
    count: int


def _entry_query() -> Select[Any]:
    e = ledger_entries.c
    return select(e.idx, e.created_at, e.case_id, e.actor_role, e.actor_org_kind, e.holder,
                  e.action, e.purpose, e.recipient, e.effect, e.rules)


def _entry(row: Any) -> EntryRow:
    return EntryRow(
        idx=row.idx, created_at=row.created_at, case_id=row.case_id, actor_role=row.actor_role,
        actor_org_kind=row.actor_org_kind, holder=row.holder, action=row.action,
        purpose=row.purpose, recipient=row.recipient, effect=row.effect, rules=row.rules,
    )


def latest_denials(conn: Connection, limit: int) -> list[EntryRow]:
    """The last ``limit`` entries that denied, newest first."""
    query = (_entry_query().where(ledger_entries.c.effect == "deny")
             .order_by(ledger_entries.c.idx.desc()).limit(limit))
    return [_entry(row) for row in conn.execute(query).all()]


def entries_by_actor(conn: Connection, actor_id: str, after: int, limit: int) -> list[EntryRow]:
    """The entries of one actor with an index above ``after``, oldest first, at most ``limit``."""
    query = (_entry_query()
             .where(and_(ledger_entries.c.actor_id == actor_id, ledger_entries.c.idx > after))
             .order_by(ledger_entries.c.idx).limit(limit))
    return [_entry(row) for row in conn.execute(query).all()]


def counts_by_rules(conn: Connection) -> list[RulesCount]:
    """How many entries there are per (rules, effect): grouped in SQL, so few rows whatever
    the log's size."""
    rows = conn.execute(
        select(ledger_entries.c.rules, ledger_entries.c.effect, func.count())
        .group_by(ledger_entries.c.rules, ledger_entries.c.effect)
    ).all()
    return [RulesCount(rules=rules, effect=effect, count=int(count))
            for rules, effect, count in rows]
