"""Engines for SQLite (WAL, foreign keys on) and PostgreSQL (psycopg 3).

Durable means durable: SQLite runs ``synchronous=FULL`` (WAL is fsynced at every commit) and
PostgreSQL connections set ``synchronous_commit=on``, so a transaction that has committed has
reached the disk. On SQLite, ``engine.begin()`` (a write) starts with ``BEGIN IMMEDIATE``, the
database's one write lock, while a connection from ``engine.connect()`` (a read: nothing in
this project commits one) starts a deferred transaction, a WAL snapshot that never waits for
writers and never makes them wait.

Errors from the drivers are translated into :class:`~safereport.errors.StorageError` with one
line a person can act on; the URL's password never appears in a message.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, RootTransaction, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from safereport.errors import StorageError

__all__ = ["check_database", "is_postgres", "make_engine", "redact_url", "write_transaction"]


def redact_url(url: str) -> str:
    """The URL with any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # Hand transaction control to the dialect's do_begin (_sqlite_do_begin below).
    dbapi_connection.isolation_level = None


#: Set, in this thread, while :func:`_begin_for_write` begins its transaction.
_BEGINNING_WRITE = threading.local()


def _sqlite_do_begin(dbapi_connection: Any) -> None:
    """The SQLite dialect's ``do_begin``: ``BEGIN IMMEDIATE`` for a writer, ``BEGIN`` else.

    A writer's IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue on
    busy_timeout instead of failing when a read transaction upgrades (the ledger sequencer
    relies on it). A reader's deferred BEGIN is a snapshot: it takes no lock at all.

    This is the dialect's own hook, run on the driver's connection, not a "begin" event
    listener: an engine with any such listener pays for SQLAlchemy's event dispatch on every
    statement it runs (41 against 27 microseconds for a one-row SELECT here; a case page runs
    about twenty), and the listener's BEGIN went through SQLAlchemy's statement execution
    (issue 13). A failure is wrapped by SQLAlchemy as any statement's is (OperationalError
    for "database is locked").
    """
    writing = getattr(_BEGINNING_WRITE, "on", False)
    dbapi_connection.execute("BEGIN IMMEDIATE" if writing else "BEGIN")


#: How long a writer waits for another writer of the same process (as SQLite's busy timeout).
_WRITER_WAIT = 30.0


#: One writers' lock per SQLite database file, shared by every engine of this process on it (the
#: instance's and the ledger sequencer's own), so their writers queue on it in turn.
_WRITER_LOCKS: dict[str, threading.RLock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_lock(engine: Engine) -> threading.RLock:
    database = engine.url.database or ""
    key = str(Path(database).resolve()) if database and database != ":memory:" else str(id(engine))
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(key, threading.RLock())


@contextmanager
def _writers_turn(writers: threading.RLock) -> Iterator[None]:
    if not writers.acquire(timeout=_WRITER_WAIT):
        raise StorageError("the database is busy: another write did not finish in time")
    try:
        yield
    finally:
        writers.release()


def _begun(conn: Connection) -> RootTransaction:
    """``conn.begin()``, marked as a writer's: ``BEGIN IMMEDIATE`` (:func:`_sqlite_do_begin`)."""
    _BEGINNING_WRITE.on = True
    try:
        return conn.begin()
    finally:
        _BEGINNING_WRITE.on = False


#: Where a SQLite engine keeps its writers' lock (:func:`_writer_lock`).
_WRITERS = "_safereport_writers"


def _begin_for_write(engine: Engine) -> Any:
    """``engine.begin`` that marks its connection as a writer before the transaction starts.

    Writers of one process also queue on a lock of their own before ``BEGIN IMMEDIATE``: a
    writer that finds SQLite's lock taken sleeps in SQLite's busy handler in growing steps (up
    to 100 ms) and can miss the moment it is free, again and again, while the ledger's
    sequencer commits batch after batch. On a Python lock it wakes as soon as the writer
    before it is done. Writers in other processes still queue on SQLite's busy timeout.
    """
    writers = _writer_lock(engine)
    setattr(engine, _WRITERS, writers)  # for write_transaction

    @contextmanager
    def begin() -> Iterator[Any]:
        with _writers_turn(writers), engine.connect() as conn, _begun(conn):
            yield conn

    return begin


@contextmanager
def write_transaction(conn: Connection) -> Iterator[Connection]:
    """A write transaction on ``conn``, a connection its owner keeps open (the ledger's
    sequencer), begun and queued as ``engine.begin()`` begins and queues one. On PostgreSQL,
    ``conn.begin()``."""
    writers: threading.RLock | None = getattr(conn.engine, _WRITERS, None)
    if writers is None:
        with conn.begin():
            yield conn
        return
    with _writers_turn(writers), _begun(conn):
        yield conn


#: Connections a SQLite engine keeps open (and may open as many again, closed on return).
#: A staff page view takes two (its session check, then one lent to the whole page), and a
#: server runs as many requests at once as it has request threads (``request_threads``: 4 on
#: 2 CPUs by default, AnyIO's 40 before 2026-12-02), besides its scheduler and notices
#: threads: with SQLAlchemy's default of five kept, most connections were opened for one
#: request and closed after it (a file open, the pragmas, the schema read again), and requests
#: queued for them under load (issue 13: p99 of the case page at 8 connections 191 ms, with
#: this 126 ms). An idle SQLite connection costs a file handle and its page cache.
SQLITE_POOL = 40


def make_engine(url: str, *, pool: bool = True, pool_size: int | None = None) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout.

    ``pool_size`` bounds the pool to that many connections (and as many again on overflow);
    the ledger's sequencer has an engine of its own with one, so that it never waits for a
    connection held by a request that is itself waiting for the sequencer.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise StorageError(f"invalid database URL: {redact_url(url)}") from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            parent = Path(database).parent
            if not parent.is_dir():
                raise StorageError(f"the database folder {parent} does not exist")
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": 30},
            # A failing statement's error and log never carry its bound values (usernames,
            # case ids, lookup ids): security review, finding 20.
            hide_parameters=True,
            **_pool_args(pool, pool_size if pool_size is not None else SQLITE_POOL),
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        setattr(engine.dialect, "do_begin", _sqlite_do_begin)  # noqa: B010 (this engine's own)
        # Every write in this project is an ``engine.begin()`` block: mark those as writers.
        setattr(engine, "begin", _begin_for_write(engine))  # noqa: B010
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # Whatever the server's default, a commit here waits for its WAL to reach the disk.
        kwargs: dict[str, Any] = {
            "hide_parameters": True,
            "pool_pre_ping": True,
            "connect_args": {"options": "-c synchronous_commit=on"},
            **_pool_args(pool, pool_size),
        }
        return create_engine(parsed, **kwargs)
    backend = parsed.get_backend_name()
    raise StorageError(f"unsupported database: {backend} (use sqlite or postgresql)")


def _pool_args(pool: bool, pool_size: int | None) -> dict[str, Any]:
    """``create_engine``'s pool arguments: none at all, a bounded pool, or its default."""
    if not pool:
        return {"poolclass": NullPool}
    if pool_size is not None:
        return {"pool_size": pool_size, "max_overflow": pool_size}
    return {}


def check_database(engine: Engine) -> None:
    """Connect once and run a trivial query; a clear StorageError if that fails."""
    where = redact_url(engine.url.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            if engine.dialect.name == "sqlite":
                result = conn.execute(text("PRAGMA quick_check")).scalar()
                if result != "ok":
                    raise StorageError(f"the database file is damaged: {result}")
    except StorageError:
        raise
    except DBAPIError as exc:
        original = exc.orig
        if isinstance(original, sqlite3.DatabaseError):
            raise StorageError(
                f"the database at {where} is not a usable SQLite database ({original})"
            ) from exc
        first_line = str(original).strip().splitlines()[0] if str(original).strip() else ""
        raise StorageError(f"cannot reach the database at {where}: {first_line}") from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot use the database at {where}: {exc.__class__.__name__}") from exc
