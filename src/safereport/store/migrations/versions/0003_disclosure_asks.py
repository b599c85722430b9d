"""staff side: asks from another organisation to consider a disclosure

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disclosure_asks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("from_org_id", sa.String(length=32), nullable=False),
        sa.Column("from_user_id", sa.String(length=32), nullable=False),
        sa.Column("to_org_id", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["from_org_id"], ["organisations.id"],
                                name=op.f("fk_disclosure_asks_from_org_id_organisations")),
        sa.ForeignKeyConstraint(["from_user_id"], ["users.id"],
                                name=op.f("fk_disclosure_asks_from_user_id_users")),
        sa.ForeignKeyConstraint(["to_org_id"], ["organisations.id"],
                                name=op.f("fk_disclosure_asks_to_org_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_asks")),
    )
    with op.batch_alter_table("disclosure_asks", schema=None) as batch_op:
        batch_op.create_index("ix_disclosure_asks_to", ["to_org_id", "status"], unique=False)
        batch_op.create_index("ix_disclosure_asks_from", ["from_org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("disclosure_asks", schema=None) as batch_op:
        batch_op.drop_index("ix_disclosure_asks_from")
        batch_op.drop_index("ix_disclosure_asks_to")
    op.drop_table("disclosure_asks")
