"""Item 9 (review 20): a failing statement never shows its bound values in errors or logs."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from safereport.store.db import make_engine


def test_item9_database_errors_hide_bound_parameters(db_url: str) -> None:
    engine = make_engine(db_url)
    secret = "lookup-id-0123456789abcdef"
    with pytest.raises(SQLAlchemyError) as caught, engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table WHERE x = :x"), {"x": secret})
    assert secret not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)
    engine.dispose()
