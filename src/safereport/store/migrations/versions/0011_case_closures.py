"""case closures: why a case was closed, from a closed list (issue 17)

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_closures",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("closed_by", sa.String(length=32), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_case_closures_case_id_cases"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["closed_by"], ["users.id"],
                                name=op.f("fk_case_closures_closed_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_closures")),
    )
    with op.batch_alter_table("case_closures", schema=None) as batch_op:
        batch_op.create_index("ix_case_closures_case", ["case_id"], unique=False)
        batch_op.create_index("ix_case_closures_closed_at", ["closed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_closures", schema=None) as batch_op:
        batch_op.drop_index("ix_case_closures_closed_at")
        batch_op.drop_index("ix_case_closures_case")
    op.drop_table("case_closures")
