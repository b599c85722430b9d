"""vault: index data keys by (kek_id, case_id) so rotation walks one KEK in case order

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vault_case_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_vault_case_keys_kek_id")
        batch_op.create_index("ix_vault_case_keys_kek_id", ["kek_id", "case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vault_case_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_vault_case_keys_kek_id")
        batch_op.create_index("ix_vault_case_keys_kek_id", ["kek_id"], unique=False)
