"""Migration 0021 (issue 13): on SQLite the ledger's keys become the tables' rowids.

A ``BIGINT PRIMARY KEY`` is a second b-tree beside SQLite's rowid table that every append
wrote too; an ``INTEGER PRIMARY KEY`` is the rowid itself. A log written before the migration
must come through it whole: the same entries, the same nodes, ``ledger verify`` passing, and
appends continuing from where it stood.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select
from tests.support.ledger_helpers import append_n, make_ledger

from safereport.store.db import make_engine
from safereport.store.ledger import ledger_checkpoints, ledger_entries, ledger_nodes
from safereport.store.migrate import upgrade


def _autoindexes(engine: Engine) -> set[str]:
    """Which of the ledger's tables keep their primary key as an index of its own (not the
    rowid)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name LIKE "
            "'sqlite_autoindex_%'"
        ).all()
    return {str(row[0]) for row in rows} & {"ledger_entries", "ledger_nodes", "ledger_checkpoints"}


def test_upgrade_makes_the_keys_rowids_and_keeps_the_log(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(engine, "0020")
        assert _autoindexes(engine) == {"ledger_entries", "ledger_nodes", "ledger_checkpoints"}
        ledger = make_ledger(engine)
        append_n(ledger, 37)
        ledger.sign_checkpoint()
        with engine.connect() as conn:
            before = conn.execute(select(ledger_entries).order_by(ledger_entries.c.idx)).all()
            nodes = conn.execute(select(func.count()).select_from(ledger_nodes)).scalar()

        upgrade(engine, "0021")

        assert _autoindexes(engine) == {"ledger_checkpoints"}
        with engine.connect() as conn:
            after = conn.execute(select(ledger_entries).order_by(ledger_entries.c.idx)).all()
            assert conn.execute(select(func.count()).select_from(ledger_nodes)).scalar() == nodes
            indexes = {
                str(row[0])
                for row in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'index' "
                    "AND tbl_name = 'ledger_entries'"
                )
            }
        assert after == before
        # The month-only index is gone: the (month, case_id) one serves lookups by month.
        assert {"ix_ledger_entries_case_id", "ix_ledger_entries_month_case"} <= indexes
        assert "ix_ledger_entries_month" not in indexes
        reopened = make_ledger(engine)
        assert reopened.verify().size == 37
        assert append_n(reopened, 3) == [37, 38, 39]
        assert reopened.verify().size == 40
    finally:
        engine.dispose()


def test_upgrade_makes_the_checkpoint_key_the_rowid_and_keeps_every_checkpoint(
    tmp_path: Path,
) -> None:
    """Migration 0022: a signed checkpoint is stored with every batch; its key becomes the
    rowid, and every checkpoint signed before comes through (``ledger verify`` checks each
    against the tree), with signing continuing after."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(engine, "0021")
        ledger = make_ledger(engine)
        for _ in range(4):
            append_n(ledger, 5)
            ledger.sign_checkpoint()
        with engine.connect() as conn:
            before = conn.execute(
                select(ledger_checkpoints).order_by(ledger_checkpoints.c.size)).all()
        assert [row.size for row in before] == [5, 10, 15, 20]
        assert _autoindexes(engine) == {"ledger_checkpoints"}

        upgrade(engine)

        assert _autoindexes(engine) == set()
        with engine.connect() as conn:
            after = conn.execute(
                select(ledger_checkpoints).order_by(ledger_checkpoints.c.size)).all()
        assert after == before
        reopened = make_ledger(engine)
        assert reopened.verify().checkpoints == 4
        append_n(reopened, 2)
        reopened.sign_checkpoint()
        assert reopened.verify().checkpoints == 5
    finally:
        engine.dispose()
