"""safety plan actions: what (sealed), who owns it, by when, done (issue 17)

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "safety_plan_actions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("due_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_safety_plan_actions_case_id_cases"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name=op.f("fk_safety_plan_actions_created_by_users")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"],
                                name=op.f("fk_safety_plan_actions_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_plan_actions")),
    )
    with op.batch_alter_table("safety_plan_actions", schema=None) as batch_op:
        batch_op.create_index("ix_safety_plan_actions_case", ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("safety_plan_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_safety_plan_actions_case")
    op.drop_table("safety_plan_actions")
