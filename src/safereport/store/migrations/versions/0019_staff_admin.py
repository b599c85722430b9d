"""staff administration: one-time passwords to change, two-person second-factor resets

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # When an administrator set a one-time password: it must be changed at the next sign-in,
    # and is refused once it is older than the reset period (NULL: the password is her own).
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_reset_at", sa.DateTime(timezone=True),
                                      nullable=True))
    op.create_table(
        "staff_factor_resets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("confirmed_by", sa.String(length=32), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=32), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_staff_factor_resets_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_factor_resets")),
    )
    with op.batch_alter_table("staff_factor_resets", schema=None) as batch_op:
        batch_op.create_index("ix_staff_factor_resets_user_id", ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_factor_resets", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_factor_resets_user_id")
    op.drop_table("staff_factor_resets")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("password_reset_at")
