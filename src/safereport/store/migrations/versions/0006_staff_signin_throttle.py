"""staff sign-in: failed attempts counted per source and per (source, username)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_signin_throttle",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_staff_signin_throttle")),
    )
    with op.batch_alter_table("staff_signin_throttle", schema=None) as batch_op:
        batch_op.create_index("ix_staff_signin_throttle_window_start", ["window_start"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_signin_throttle", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_signin_throttle_window_start")
    op.drop_table("staff_signin_throttle")
