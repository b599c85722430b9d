"""Acknowledged means durable, and reads never take the write lock."""

from __future__ import annotations

import sqlite3
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from safereport.store.db import make_engine


def test_sqlite_commits_are_fsynced(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


@pytest.mark.postgres
def test_postgres_commits_wait_for_the_disk(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
    engine.dispose()


def test_a_sqlite_read_is_a_snapshot_that_takes_no_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with engine.connect() as reader:
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 1
        # Another writer gets the lock at once (timeout 0): the open read holds none.
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t VALUES (2)")
        other.execute("COMMIT")
        # ... and the read still sees its snapshot.
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 1
    other.close()
    engine.dispose()


def test_a_sqlite_write_takes_the_lock_at_begin(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with engine.begin() as writer:
        writer.execute(text("SELECT count(*) FROM t"))
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.close()
    engine.dispose()


def test_a_staff_page_view_checks_its_session_without_the_write_lock(tmp_path: Path) -> None:
    """Every staff page checks its session: in a snapshot, not queued behind writers."""
    from datetime import timedelta

    with warnings.catch_warnings():  # its httpx2 deprecation warning would be an error here
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from safereport.domain.vocabulary import ActorRole, OrgKind
    from safereport.services import auth
    from safereport.services.instance import open_instance
    from safereport.services.setup import init_instance
    from safereport.services.users import add_org
    from safereport.store.staff import staff_sessions
    from safereport.web.app import create_app

    data_dir = init_instance(tmp_path / "instance")
    instance = open_instance(data_dir)
    with instance.engine.begin() as conn:
        org = add_org(conn, "Snapshot Support", OrgKind.SUPPORT_SERVICE)
        user_id = auth.create_user(conn, org_id=org, username="cw", display_name="CW",
                                   role=ActorRole.CASEWORKER, password="a long password 1")
        user = auth.get_user(conn, user_id)
        assert user is not None
        token = auth.start_session(conn, user, auth.SessionState.ACTIVE)
    client = TestClient(create_app(instance))
    client.cookies.set("sr_staff", token)
    writer = sqlite3.connect(data_dir / "safereport.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another writer holds the database's write lock
    try:
        page = client.get("/staff/", follow_redirects=False)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert page.status_code == 200
    # A session due a touch is loaded read-only first, and says so; nothing is written.
    later = datetime.now(UTC) + timedelta(minutes=1)
    with instance.engine.connect() as conn:
        before = conn.execute(select(staff_sessions.c.last_seen_at)).scalar_one()
        found = auth.load_session(conn, token, now=later, write=False)
        assert found is not None and found.touch_due
        assert conn.execute(select(staff_sessions.c.last_seen_at)).scalar_one() == before
    instance.close()


def test_a_sqlite_write_that_cannot_take_the_lock_fails_as_sqlalchemy_reports_it(
    tmp_path: Path,
) -> None:
    """A writer's BEGIN IMMEDIATE on a busy database raises
    SQLAlchemy's OperationalError (what the services translate), and the pool stays usable."""
    from sqlalchemy.exc import OperationalError

    path = tmp_path / "x.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA busy_timeout=0")
    try:
        with pytest.raises(OperationalError, match="locked"), engine.begin() as writer:
            writer.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    with engine.begin() as writer:
        writer.execute(text("INSERT INTO t VALUES (2)"))
    with engine.connect() as reader:
        assert reader.execute(text("SELECT x FROM t")).scalars().all() == [2]
    engine.dispose()
