"""casework as UK services practise it: status changes (dormant), outcome measures, MARAC
actions, transfers to another area, consent review dates (issue 17)

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_status_changes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=False),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("changed_by", sa.String(length=32), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_case_status_changes_case_id_cases"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["changed_by"], ["users.id"],
                                name=op.f("fk_case_status_changes_changed_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_status_changes")),
    )
    with op.batch_alter_table("case_status_changes", schema=None) as batch_op:
        batch_op.create_index("ix_case_status_changes_case", ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_status_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_case_status_changes_case")
    op.drop_table("case_status_changes")
