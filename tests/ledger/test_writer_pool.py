"""The sequencer never waits for a connection that a waiting request holds (CI, stop 24).

A server's requests each hold a connection of the instance's pool while they wait for their
decisions' batch. When every pooled connection was held so, the sequencer could not get one
to commit that batch: each request waited for the sequencer and the sequencer for them, until
the pool's 30-second timeout failed them all ("QueuePool limit ... reached"). The sequencer now
writes through an engine of its own, and its writers still queue with the instance's writers.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import Connection
from tests.support.ledger_helpers import make_decision

from safereport.services.instance import open_instance
from safereport.services.setup import init_instance


def test_a_batch_commits_while_requests_hold_every_pooled_connection(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = db_url if db_url.startswith("postgresql") else None
    monkeypatch.delenv("SAFEREPORT_DATABASE_URL", raising=False)
    if database_url:
        monkeypatch.setenv("SAFEREPORT_DATABASE_URL", database_url)
    init_instance(tmp_path / "instance", database_url=database_url)
    instance = open_instance(tmp_path / "instance")
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
    from safereport.store.db import _writer_lock, make_engine

    url = f"sqlite:///{tmp_path / 'one.db'}"
    first, second = make_engine(url), make_engine(url, pool_size=1)
    other = make_engine(f"sqlite:///{tmp_path / 'two.db'}")
    try:
        assert _writer_lock(first) is _writer_lock(second)
        assert _writer_lock(first) is not _writer_lock(other)
    finally:
        for engine in (first, second, other):
            engine.dispose()
