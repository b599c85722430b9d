"""victim return sessions and spent form tokens in the database, shared by every worker

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "victim_sessions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_victim_sessions")),
    )
    with op.batch_alter_table("victim_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_victim_sessions_expires"), ["expires"], unique=False)
    op.create_table(
        "victim_spent_tokens",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_victim_spent_tokens")),
    )
    with op.batch_alter_table("victim_spent_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_victim_spent_tokens_expires"), ["expires"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("victim_spent_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_victim_spent_tokens_expires"))
    op.drop_table("victim_spent_tokens")
    with op.batch_alter_table("victim_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_victim_sessions_expires"))
    op.drop_table("victim_sessions")
