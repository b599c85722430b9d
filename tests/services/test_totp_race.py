"""Item 2: one TOTP code signs in once, even when two sign-ins with it race on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import Engine, text
from tests.services.test_auth import PASSWORD, SEALER, _enrol, _signin, _user
from tests.support.cheap_costs import CHEAP_HASHER

from safereport.services import auth
from safereport.store.db import make_engine
from safereport.store.tables import metadata

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def _waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'")).scalar())


def _race(engine: Engine, code: str, moment: datetime) -> list[object]:
    """Sign-in A checks the code and holds its transaction open; sign-in B, with the same
    code, runs to the point where it waits on A (or to its end); then A commits."""
    results: list[object] = [None, None]
    a_checked, a_may_commit = threading.Event(), threading.Event()

    def first() -> None:
        try:
            with engine.begin() as conn:
                results[0] = auth.authenticate(conn, username="amira", password=PASSWORD,
                                               totp_code=code, totp=SEALER, now=moment,
                                               hasher=CHEAP_HASHER).outcome
                a_checked.set()
                a_may_commit.wait()
        except Exception as exc:  # a 500 in the web app
            results[0] = exc
            a_checked.set()

    def second() -> None:
        try:
            with engine.begin() as conn:
                results[1] = auth.authenticate(conn, username="amira", password=PASSWORD,
                                               totp_code=code, totp=SEALER, now=moment,
                                               hasher=CHEAP_HASHER).outcome
        except Exception as exc:
            results[1] = exc

    a = threading.Thread(target=first)
    a.start()
    a_checked.wait()
    b = threading.Thread(target=second)
    b.start()
    for _ in range(2000):  # until B waits on A's row, or B has finished
        if not b.is_alive() or _waiting_on_a_lock(engine):
            break
        time.sleep(0.005)
    a_may_commit.set()
    a.join()
    b.join()
    return results


@pytest.mark.postgres
@pytest.mark.parametrize("earlier_sign_in", [False, True], ids=["first-code", "later-code"])
def test_item2_two_sign_ins_with_one_code_in_flight_together(
        pg_engine: Engine, earlier_sign_in: bool) -> None:
    secret = _enrol(pg_engine, _user(pg_engine))
    if earlier_sign_in:
        before = T0 - timedelta(minutes=5)
        assert _signin(pg_engine, PASSWORD, pyotp.TOTP(secret).at(before), before).outcome is \
            auth.SignInOutcome.SIGNED_IN
    results = _race(pg_engine, pyotp.TOTP(secret).at(T0), T0)
    assert results == [auth.SignInOutcome.SIGNED_IN, auth.SignInOutcome.REFUSED]
