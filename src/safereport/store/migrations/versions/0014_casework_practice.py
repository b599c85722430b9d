"""casework as UK services practise it: status changes (dormant and reopened), outcome
measures at entry and exit, the MARAC meeting's actions, transfers to another area, consent
review dates (issue 17)

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: Consents already on record get a review date this long after they were given or confirmed
#: (the ``consent_review_days`` setting's default).
_BACKFILL_REVIEW_DAYS = 365


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
    op.create_table(
        "outcome_scores",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column("measure", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_outcome_scores_case_id_cases"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"],
                                name=op.f("fk_outcome_scores_recorded_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_scores")),
    )
    with op.batch_alter_table("outcome_scores", schema=None) as batch_op:
        batch_op.create_index("ix_outcome_scores_case", ["case_id"], unique=False)
    op.create_table(
        "marac_actions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("due_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_marac_actions_case_id_cases"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name=op.f("fk_marac_actions_created_by_users")),
        sa.ForeignKeyConstraint(["request_id"], ["disclosure_requests.id"],
                                name=op.f("fk_marac_actions_request_id_disclosure_requests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marac_actions")),
    )
    with op.batch_alter_table("marac_actions", schema=None) as batch_op:
        batch_op.create_index("ix_marac_actions_case", ["case_id"], unique=False)
    op.create_table(
        "case_transfers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("to_org_id", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_case_id", sa.String(length=32), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_case_transfers_case_id_cases"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["request_id"], ["disclosure_requests.id"],
                                name=op.f("fk_case_transfers_request_id_disclosure_requests")),
        sa.ForeignKeyConstraint(["requested_by"], ["users.id"],
                                name=op.f("fk_case_transfers_requested_by_users")),
        sa.ForeignKeyConstraint(["to_org_id"], ["organisations.id"],
                                name=op.f("fk_case_transfers_to_org_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_transfers")),
    )
    with op.batch_alter_table("case_transfers", schema=None) as batch_op:
        batch_op.create_index("ix_case_transfers_case", ["case_id"], unique=False)
        batch_op.create_index("ix_case_transfers_request", ["request_id"], unique=True)
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_on", sa.DateTime(timezone=True), nullable=True))
    _backfill_review_dates()


def _backfill_review_dates() -> None:
    """Every consent on record gets a review date (given or confirmed, plus a year)."""
    conn = op.get_bind()
    consents = sa.table("consents", sa.column("id", sa.String),
                        sa.column("given_at", sa.DateTime(timezone=True)),
                        sa.column("confirmed_at", sa.DateTime(timezone=True)),
                        sa.column("review_on", sa.DateTime(timezone=True)))
    rows = conn.execute(sa.select(consents.c.id, consents.c.given_at, consents.c.confirmed_at)
                        .where(consents.c.review_on.is_(None))).all()
    for row in rows:
        base = row.confirmed_at or row.given_at or datetime.now(UTC)
        conn.execute(sa.update(consents).where(consents.c.id == row.id).values(
            review_on=base + timedelta(days=_BACKFILL_REVIEW_DAYS)))


def downgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("review_on")
    for table, indexes in (("case_transfers", ("ix_case_transfers_request",
                                               "ix_case_transfers_case")),
                           ("marac_actions", ("ix_marac_actions_case",)),
                           ("outcome_scores", ("ix_outcome_scores_case",)),
                           ("case_status_changes", ("ix_case_status_changes_case",))):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in indexes:
                batch_op.drop_index(name)
        op.drop_table(table)
