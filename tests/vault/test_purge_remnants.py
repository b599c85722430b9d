"""Erasure must not report success while the WAL still holds the destroyed key (review 6b)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from safereport.errors import VaultError
from safereport.store.db import make_engine
from safereport.vault.vault import purge_remnants


def test_a_busy_checkpoint_is_retried_then_reported_loudly(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE k (v BLOB)"))
        conn.execute(text("INSERT INTO k VALUES (x'00112233')"))
    reader = sqlite3.connect(path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM k").fetchall()  # holds a snapshot: checkpoint busy
    with engine.begin() as conn:
        conn.execute(text("UPDATE k SET v = x'ffffffff'"))
    with pytest.raises(VaultError, match="erasure not complete"):
        purge_remnants(engine, attempts=3, wait=0.01)
    reader.rollback()
    reader.close()
    purge_remnants(engine, attempts=3, wait=0.01)  # the reader is gone: it completes
    assert (tmp_path / "wal.db-wal").stat().st_size == 0
    engine.dispose()
