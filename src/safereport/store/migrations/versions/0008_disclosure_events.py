"""the ends of the disclosure workflow: refused, sent back, resubmitted, withdrawn, an ask
declined, each with who and why (issue 17)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disclosure_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=True),
        sa.Column("ask_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ask_id"], ["disclosure_asks.id"],
                                name=op.f("fk_disclosure_events_ask_id_disclosure_asks")),
        sa.ForeignKeyConstraint(["request_id"], ["disclosure_requests.id"],
                                name=op.f("fk_disclosure_events_request_id_disclosure_requests")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_disclosure_events_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_events")),
    )
    with op.batch_alter_table("disclosure_events", schema=None) as batch_op:
        batch_op.create_index("ix_disclosure_events_request", ["request_id"], unique=False)
        batch_op.create_index("ix_disclosure_events_ask", ["ask_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("disclosure_events", schema=None) as batch_op:
        batch_op.drop_index("ix_disclosure_events_ask")
        batch_op.drop_index("ix_disclosure_events_request")
    op.drop_table("disclosure_events")
