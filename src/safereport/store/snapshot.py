"""Consistent copies of the database for backups, and the row counts that prove a restore.

SQLite is copied with its online backup API (one step, so one read snapshot that never blocks
writers in WAL mode). PostgreSQL is dumped by ``pg_dump`` inside a snapshot exported from a
REPEATABLE READ transaction, so the counts taken in that transaction describe the dump exactly.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.engine import make_url

from safereport.errors import StorageError
from safereport.store.metadata import metadata

__all__ = [
    "copy_sqlite",
    "count_rows",
    "dump_postgres",
    "libpq_env",
    "pg_tool",
    "restore_postgres",
    "table_names",
]


def count_rows(conn: Connection) -> dict[str, int]:
    """Rows in every table this build knows that the database holds, by table name."""
    present = set(table_names(conn))
    return {
        name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        for name, table in sorted(metadata.tables.items())
        if name in present
    }


def table_names(conn: Connection) -> list[str]:
    from sqlalchemy import inspect

    return sorted(inspect(conn).get_table_names())


def copy_sqlite(source: Path, destination: Path) -> None:
    """A consistent copy of a live SQLite database (WAL included) into a new file."""
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(destination)
            try:
                src.backup(dst)  # pages=-1: the whole database from one read snapshot
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot copy the SQLite database {source}: {exc}") from exc


def pg_tool(name: str) -> str:
    """The path of ``pg_dump`` or ``pg_restore``; a clear error if it is not installed."""
    found = shutil.which(name)
    if found is None:
        raise StorageError(
            f"{name} is not installed: back up PostgreSQL with your own tools "
            "(docs/operations.md, 'PostgreSQL backups')"
        )
    return found


def libpq_env(url: str) -> dict[str, str]:
    """The connection as libpq variables, so no password ever appears in a command line."""
    parsed = make_url(url)
    env = dict(os.environ)
    for var, value in (("PGHOST", parsed.host), ("PGPORT", parsed.port),
                       ("PGUSER", parsed.username), ("PGPASSWORD", parsed.password),
                       ("PGDATABASE", parsed.database)):
        if value is not None:
            env[var] = str(value)
    return env


@contextmanager
def _exported_snapshot(engine: Engine) -> Iterator[tuple[str, Connection]]:
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
            yield snapshot, conn


def dump_postgres(engine: Engine, url: str, destination: Path) -> dict[str, int]:
    """``pg_dump -Fc`` of the live database into ``destination``; the counts it holds."""
    tool = pg_tool("pg_dump")
    with _exported_snapshot(engine) as (snapshot, conn):
        counts = count_rows(conn)
        result = subprocess.run(
            [tool, "--format=custom", "--no-owner", "--no-privileges",
             f"--snapshot={snapshot}", f"--file={destination}"],
            env=libpq_env(url), capture_output=True, text=True,
        )
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no message"])[0]
        raise StorageError(f"pg_dump failed: {first}")
    return counts


def restore_postgres(url: str, dump: Path) -> None:
    """``pg_restore`` a dump into an empty database; stops at the first error."""
    result = subprocess.run(
        [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
         "--single-transaction", f"--dbname={make_url(url).database}", str(dump)],
        env=libpq_env(url), capture_output=True, text=True,
    )
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no message"])[0]
        raise StorageError(f"pg_restore failed: {first}")
