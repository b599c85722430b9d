"""statistics: published statistics are immutable

Triggers refuse UPDATE and DELETE on the releases and the budget
ledger (as ``store.stats.immutable_ddl`` does for ``create_all``).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


_TABLES = ("stats_releases", "stats_budgets", "stats_budget_charges")


def _trigger_sql(dialect: str) -> list[str]:
    if dialect == "postgresql":
        function = (
            "CREATE OR REPLACE FUNCTION safereport_refuse_change() RETURNS trigger\n"
            "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
            "'published statistics are immutable'; END $$"
        )
        return [function] + [
            f"CREATE TRIGGER {name}_immutable BEFORE UPDATE OR DELETE ON {name} "
            "FOR EACH ROW EXECUTE FUNCTION safereport_refuse_change()"
            for name in _TABLES
        ]
    return [
        f"CREATE TRIGGER {name}_no_{verb.lower()} BEFORE {verb} ON {name} "
        "BEGIN SELECT RAISE(ABORT, 'published statistics are immutable'); END"
        for name in _TABLES
        for verb in ("UPDATE", "DELETE")
    ]


def upgrade() -> None:
    for statement in _trigger_sql(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in _TABLES:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {name}_immutable ON {name}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {name}_no_delete")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS safereport_refuse_change()")
