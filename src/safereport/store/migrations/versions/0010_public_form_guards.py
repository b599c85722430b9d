"""public forms: rate-limit counters, spent challenges and caught counts; the day's salt
(issue 19)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "public_form_counters",
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_public_form_counters")),
    )
    with op.batch_alter_table("public_form_counters", schema=None) as batch_op:
        batch_op.create_index("ix_public_form_counters_window_start", ["window_start"],
                              unique=False)
    op.create_table(
        "public_form_salts",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_public_form_salts")),
    )


def downgrade() -> None:
    op.drop_table("public_form_salts")
    with op.batch_alter_table("public_form_counters", schema=None) as batch_op:
        batch_op.drop_index("ix_public_form_counters_window_start")
    op.drop_table("public_form_counters")
