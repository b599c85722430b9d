"""Migrations: from empty on both databases, and no drift between models and migrations."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from safereport.store.db import make_engine
from safereport.store.migrate import current_revision, head_revision, upgrade
from safereport.store.tables import metadata


def test_upgrade_from_empty_then_no_drift(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), metadata
            )
        assert diff == [], f"models and migrations drifted apart: {diff}"
        upgrade(engine)  # a second run changes nothing and does not fail
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_published_statistics_are_immutable_after_migration(db_url: str) -> None:
    """DDL that the models cannot express (triggers) must come from the migrations too."""
    from sqlalchemy import text

    engine = make_engine(db_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            names = (
                (
                    conn.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'"))
                    if engine.dialect.name == "sqlite"
                    else conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
                )
                .scalars()
                .all()
            )
        for table in ("stats_releases", "stats_budgets", "stats_budget_charges"):
            assert any(name.startswith(table) for name in names), (table, names)
    finally:
        engine.dispose()
