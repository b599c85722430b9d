"""quarantine of suspected bot reports and the per-organisation spam classifier (issue 19)

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("features", sa.Text(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_quarantine_org_id_organisations")),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"],
                                name=op.f("fk_quarantine_decided_by_users")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_quarantine")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index("ix_quarantine_org_outcome", ["org_id", "outcome"], unique=False)
    op.create_table(
        "spam_features",
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("feature", sa.String(length=32), nullable=False),
        sa.Column("spam", sa.Integer(), nullable=False),
        sa.Column("real", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_spam_features_org_id_organisations")),
        sa.PrimaryKeyConstraint("org_id", "feature", name=op.f("pk_spam_features")),
    )


def downgrade() -> None:
    op.drop_table("spam_features")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantine_org_outcome")
    op.drop_table("quarantine")
