"""The SQLite engine keeps its connections: a busy server does not open one per request."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from safereport.store.db import make_engine


def test_connections_held_together_are_kept_for_the_next_requests(tmp_path: Path) -> None:
    """Twenty-four connections held together, twice over: the second time, no connection is
    opened. (With SQLAlchemy's default pool of five and ten more on overflow, a sixteenth
    connection waited 30 s and failed, and the overflow ones were closed after each use and
    opened again.)"""
    engine = make_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    opened: list[Any] = []
    event.listen(engine, "connect", lambda *_: opened.append(1))

    def round_of(count: int) -> None:
        with ExitStack() as stack:
            for _ in range(count):
                conn = stack.enter_context(engine.connect())
                conn.execute(text("SELECT 1"))

    round_of(24)
    first = len(opened)
    round_of(24)
    assert first == 24
    assert len(opened) == first
    engine.dispose()


def test_a_transaction_begins_on_the_drivers_connection(tmp_path: Path) -> None:
    """BEGIN (a read's snapshot) and BEGIN IMMEDIATE (a write's lock) run on the driver's own
    connection, not through SQLAlchemy's statement execution, which cost several times the
    BEGIN itself on every transaction of every page (issue 13); they still take effect."""
    engine = make_engine(f"sqlite:///{tmp_path / 'begin.db'}")
    # No connection event listener of its own: with one, SQLAlchemy dispatches events on
    # every statement the engine runs (about half again the cost of a one-row SELECT).
    assert not engine._has_events
    executed: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: executed.append(statement))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        assert conn.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
    with engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM t"))
        assert conn.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
    assert not [statement for statement in executed if statement.startswith("BEGIN")]
    assert executed == ["CREATE TABLE t (x INTEGER)", "SELECT count(*) FROM t"]
    engine.dispose()
