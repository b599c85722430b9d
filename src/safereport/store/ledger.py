"""Ledger tables: the entries (private), the tree's perfect-subtree hashes, signed checkpoints.

``ledger_entries`` is read by the statistics engine through its plain columns; ``leaf`` holds
the exact bytes hashed into the tree. ``case_id`` is not a foreign key, so erasing a case
never breaks the log. ``ledger_nodes`` holds the hash of every complete subtree of level 1 and
above (level 0 is ``ledger_entries.leaf_hash``), written in the same transaction as the leaf
that completes it: any proof then reads O(log n) rows.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from safereport.store.metadata import metadata

__all__ = ["NODE_LEVEL_SHIFT", "ledger_checkpoints", "ledger_entries", "ledger_nodes"]

#: A 64-bit key that on SQLite is the table's rowid (``INTEGER PRIMARY KEY``): a ``BIGINT``
#: key there is a second b-tree that every append also writes (issue 13, migration 0021).
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
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
