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
