from __future__ import annotations

from sqlalchemy import Engine, inspect


def test_schema_created_on_both_databases(engine: Engine) -> None:
    assert "cases" in inspect(engine).get_table_names()
