"""ledger_checkpoints.size as the SQLite rowid (issue 13)

As migration 0021 did for the entries and the nodes: on SQLite a ``BIGINT PRIMARY KEY`` is a
unique index of its own beside the table's rowid b-tree, and the sequencer stores a signed
checkpoint with every batch, so every batch's commit wrote both. An ``INTEGER PRIMARY KEY``
*is* the rowid: one b-tree (and one page in the commit) fewer. The values are unchanged
(64-bit integers either way). PostgreSQL keeps BIGINT.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def _retype(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # Batch mode copies the table into a new one and swaps it in.
    with op.batch_alter_table("ledger_checkpoints", recreate="always") as batch_op:
        batch_op.alter_column("size", existing_type=old, type_=new, existing_nullable=False)


def upgrade() -> None:
    _retype(sa.BigInteger(), sa.Integer())


def downgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())
