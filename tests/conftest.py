"""Shared fixtures: a database engine on SQLite and on PostgreSQL.

PostgreSQL tests use ``SAFEREPORT_TEST_POSTGRES_URL`` (default: the local server's ``test``
database). Each test session makes its own throwaway database there and drops it at the end.
With ``CI=true`` an unreachable PostgreSQL fails the run; elsewhere those tests are skipped
with the reason.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from safereport.store.db import make_engine
from safereport.store.tables import metadata

POSTGRES_URL = os.environ.get(
    "SAFEREPORT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI but unavailable: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database for this test session."""
    admin_url = make_url(POSTGRES_URL)
    name = f"safereport_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        _postgres_unavailable(str(exc).splitlines()[0])
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL: a SQLite file, or the session's PostgreSQL database, reset."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    engine = make_engine(url, pool=False)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a database with the whole schema created, on SQLite and PostgreSQL."""
    eng = make_engine(db_url)
    metadata.create_all(eng)
    try:
        yield eng
    finally:
        eng.dispose()
