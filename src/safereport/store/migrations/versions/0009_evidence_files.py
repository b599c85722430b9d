"""evidence attachments: photos, PDFs and recordings, cleaned and sealed under the case key
(issue 18)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_files",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("cleaned", sa.Boolean(), nullable=False),
        sa.Column("added_kind", sa.String(length=16), nullable=False),
        sa.Column("added_by", sa.String(length=32), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_evidence_files_case_id_cases"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["added_by"], ["users.id"],
                                name=op.f("fk_evidence_files_added_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_files")),
    )
    with op.batch_alter_table("evidence_files", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_files_case", ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evidence_files", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_files_case")
    op.drop_table("evidence_files")
