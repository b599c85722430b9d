"""facts with provenance (POLICY.md v2): who gave or recorded a consent and who confirmed it;
her own requests for a disclosure; the request a disclosure carries out

Consents already on third-party reports were ticked by the staff member who filed the report:
they become staff-recorded consents waiting for a second person's confirmation (fail closed).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "victim_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=32), nullable=True),
        sa.Column("confirmed_by", sa.String(length=32), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_victim_requests_case_id_cases"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["confirmed_by"], ["users.id"],
                                name=op.f("fk_victim_requests_confirmed_by_users")),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"],
                                name=op.f("fk_victim_requests_recorded_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_victim_requests")),
    )
    with op.batch_alter_table("victim_requests", schema=None) as batch_op:
        batch_op.create_index("ix_victim_requests_case", ["case_id"], unique=False)

    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=16), server_default="subject",
                                      nullable=False))
        batch_op.add_column(sa.Column("recorded_by", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("confirmed_by", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_consents_recorded_by_users"), "users",
                                    ["recorded_by"], ["id"])
        batch_op.create_foreign_key(batch_op.f("fk_consents_confirmed_by_users"), "users",
                                    ["confirmed_by"], ["id"])

    # Consents on third-party reports were typed in by staff: they wait for a second person.
    op.execute(
        "UPDATE consents SET source = 'staff', recorded_by = "
        "(SELECT reports.filed_by FROM reports WHERE reports.case_id = consents.case_id "
        " AND reports.filed_by IS NOT NULL LIMIT 1) "
        "WHERE case_id IN (SELECT id FROM cases WHERE intake = 'third_party')"
    )

    with op.batch_alter_table("disclosure_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("victim_request_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("disclosure_requests", schema=None) as batch_op:
        batch_op.drop_column("victim_request_id")

    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_consents_confirmed_by_users"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_consents_recorded_by_users"), type_="foreignkey")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("confirmed_by")
        batch_op.drop_column("recorded_by")
        batch_op.drop_column("source")

    with op.batch_alter_table("victim_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_victim_requests_case")
    op.drop_table("victim_requests")
