"""The sequencer never waits for a connection that a waiting request holds (CI, stop 24).

A server's requests each hold a connection of the instance's pool while they wait for their
decisions' batch. When every pooled connection was held so, the sequencer could not get one
to commit that batch: each request waited for the sequencer and the sequencer for them, until
the pool's 30-second timeout failed them all ("QueuePool limit ... reached"). The sequencer now
writes through an engine of its own, and its writers still queue with the instance's writers.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import OperationalError
from tests.support.ledger_helpers import make_decision

from safereport.errors import LedgerError
from safereport.ledger import sequencer as sequencer_module
from safereport.services.instance import Instance, open_instance
from safereport.services.setup import init_instance
from safereport.store.db import make_engine


def _instance(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Instance:
    """A new instance on ``db_url`` (SQLite: in the instance folder), opened."""
    database_url = db_url if db_url.startswith("postgresql") else None
    monkeypatch.delenv("SAFEREPORT_DATABASE_URL", raising=False)
    if database_url:
        monkeypatch.setenv("SAFEREPORT_DATABASE_URL", database_url)
    init_instance(tmp_path / "instance", database_url=database_url)
    return open_instance(tmp_path / "instance")


def test_a_batch_commits_while_requests_hold_every_pooled_connection(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = _instance(db_url, tmp_path, monkeypatch)
    pool = instance.engine.pool
    capacity = pool.size() + pool._max_overflow  # type: ignore[attr-defined]
    done = threading.Event()
    indices: list[int] = []

    def commit() -> None:
        indices.append(instance.ledger.commit(make_decision(), actor_id="a", case_id="c"))
        done.set()

    try:
        with ExitStack() as held:
            conns: list[Connection] = [held.enter_context(instance.engine.connect())
                                       for _ in range(capacity)]
            assert all(not conn.closed for conn in conns)
            worker = threading.Thread(target=commit, daemon=True)
            worker.start()
            # The pool's own timeout is 30 s: a sequencer that needs a pooled connection is
            # still waiting at 20 s; one with its own engine commits at once.
            finished = done.wait(timeout=20)
        worker.join(timeout=60)
        assert finished, "the sequencer waited for a connection the requests held"
        assert len(indices) == 1
    finally:
        instance.close()


def test_the_sequencer_and_the_instance_share_one_writers_lock(tmp_path: Path) -> None:
    """On SQLite, writers of one process queue on one lock per database file, whichever of
    its engines they write through (SQLite's busy handler alone can starve a writer)."""
    from safereport.store.db import _writer_lock

    url = f"sqlite:///{tmp_path / 'one.db'}"
    first, second = make_engine(url), make_engine(url, pool_size=1)
    other = make_engine(f"sqlite:///{tmp_path / 'two.db'}")
    try:
        assert _writer_lock(first) is _writer_lock(second)
        assert _writer_lock(first) is not _writer_lock(other)
    finally:
        for engine in (first, second, other):
            engine.dispose()


def _checkouts(engine: Engine) -> list[int]:
    """A counter of the connections ``engine``'s pool lends from now on."""
    lent = [0]

    @event.listens_for(engine, "checkout")
    def _lent(*_args: object) -> None:
        lent[0] += 1

    return lent


def test_the_sequencer_keeps_one_connection_for_all_its_batches(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13: taking a connection from the pool for every batch and giving it back (a
    rollback on return) cost about a quarter of the sequencer's time under load."""
    instance = _instance(db_url, tmp_path, monkeypatch)
    try:
        lent = _checkouts(instance.ledger.writer)
        batches = instance.ledger.sequencer.batches
        indices = [instance.ledger.commit(make_decision(), actor_id="a", case_id="c")
                   for _ in range(6)]
        assert instance.ledger.sequencer.batches - batches == 6  # one at a time: six batches
        assert indices == list(range(indices[0], indices[0] + 6))
        assert lent[0] == 1
    finally:
        instance.close()
    assert instance.ledger.sequencer._conn is None  # closed with the thread


def test_after_a_failed_batch_the_sequencer_writes_through_a_new_connection(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that fails leaves nothing of its own behind (not even its connection, which
    may be the cause): its requests get the error, the next batch commits on a new one."""
    instance = _instance(db_url, tmp_path, monkeypatch)
    ledger = instance.ledger
    try:
        ledger.commit(make_decision(), actor_id="a", case_id="c")
        lent = _checkouts(ledger.writer)
        kept = ledger.sequencer._conn
        real = ledger.sequence

        def broken(conn: Connection, records: Any, encoded: Any = None) -> Any:
            real(conn, records, encoded)  # written, then the transaction fails
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))

        monkeypatch.setattr(ledger, "sequence", broken)
        with pytest.raises(LedgerError):
            ledger.commit(make_decision(), actor_id="b", case_id="c")
        assert kept is not None and kept.closed and ledger.sequencer._conn is None
        monkeypatch.setattr(ledger, "sequence", real)
        index = ledger.commit(make_decision(), actor_id="c", case_id="c")
        assert index == 1  # the failed batch's entry was rolled back
        assert lent[0] == 1
        assert ledger.verify().size == 2  # raises if the stored tree does not hold
    finally:
        instance.close()


def test_a_connection_kept_idle_is_checked_before_the_next_batch(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool pings a PostgreSQL connection as it lends it (``pool_pre_ping``); a connection
    the sequencer keeps is not lent again under load, so after it has been idle a while it is
    given back and taken again. A database restarted while the log was quiet (here: every
    server process of the database ended) then fails no request's batch."""
    monkeypatch.setattr(sequencer_module, "IDLE_RECONNECT", 0.05)
    instance = _instance(db_url, tmp_path, monkeypatch)
    ledger = instance.ledger
    try:
        ledger.commit(make_decision(), actor_id="a", case_id="c")
        lent = _checkouts(ledger.writer)
        if db_url.startswith("postgresql"):
            admin = make_engine(db_url, pool=False)
            with admin.connect() as conn:
                ended = conn.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )).scalar()
            admin.dispose()
            assert ended  # the sequencer's own among them
        time.sleep(0.2)
        assert ledger.commit(make_decision(), actor_id="b", case_id="c") == 1
        assert lent[0] == 1
    finally:
        instance.close()
