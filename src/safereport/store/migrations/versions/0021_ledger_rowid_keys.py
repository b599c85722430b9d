"""ledger_entries.idx and ledger_nodes.node as SQLite rowids; no month-only index (issue 13)

On SQLite a ``BIGINT PRIMARY KEY`` is a separate unique index beside the table's own rowid
b-tree: every ledger append wrote both. An ``INTEGER PRIMARY KEY`` *is* the rowid, so an
append writes one b-tree per table fewer (and the last entry is read off the table itself).
The values and their meaning are unchanged (64-bit integers either way). PostgreSQL keeps
BIGINT.

On both databases the index on ``ledger_entries.month`` alone goes: the index on
(month, case_id) that the statistics engine uses already serves any lookup by month (its
leading column), and every append wrote both.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

#: (table, key column): the tables rebuilt on SQLite.
_KEYS = (("ledger_entries", "idx"), ("ledger_nodes", "node"))


def _retype(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, column in _KEYS:
        # Batch mode copies the table into a new one (with its indexes) and swaps it in.
        with op.batch_alter_table(table, recreate="always") as batch_op:
            batch_op.alter_column(column, existing_type=old, type_=new, existing_nullable=False)


def upgrade() -> None:
    op.drop_index("ix_ledger_entries_month", table_name="ledger_entries")
    _retype(sa.BigInteger(), sa.Integer())


def downgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())
    op.create_index("ix_ledger_entries_month", "ledger_entries", ["month"], unique=False)
