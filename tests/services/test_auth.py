"""Staff accounts: Argon2id, TOTP (with replay refusal), lockout, sessions with timeouts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import Engine, event, insert, select, update
from tests.support.cheap_costs import CHEAP_HASHER

from safereport.domain.passwords import Argon2idHasher
from safereport.domain.vocabulary import ActorRole, OrgKind
from safereport.errors import InvalidInput
from safereport.services import auth
from safereport.store.core import organisations, users

PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
#: TOTP secrets are sealed at rest; these tests hold the key in memory.
SEALER = auth.TotpSealer(bytes(range(32)))


def _org(engine: Engine, kind: OrgKind = OrgKind.SUPPORT_SERVICE) -> str:
    org_id = uuid.uuid4().hex
    with engine.begin() as conn:
        conn.execute(
            insert(organisations).values(id=org_id, name=f"org {org_id[:6]}", kind=kind.value,
                                         created_at=T0)
        )
    return org_id


def _user(engine: Engine, role: ActorRole = ActorRole.CASEWORKER, name: str = "amira") -> str:
    org = _org(engine, OrgKind.POLICE if role is ActorRole.POLICE_OFFICER else
               OrgKind.SUPPORT_SERVICE)
    with engine.begin() as conn:
        return auth.create_user(conn, org_id=org, username=name, display_name="Amira K",
                                role=role, password=PASSWORD, hasher=CHEAP_HASHER)


def _enrol(engine: Engine, user_id: str) -> str:
    secret = pyotp.random_base32()
    with engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == user_id)
                     .values(totp_secret=SEALER.seal(secret, user_id)))
    return secret


def _signin(engine: Engine, password: str, code: str | None, now: datetime) -> auth.SignIn:
    with engine.begin() as conn:
        return auth.authenticate(conn, username="amira", password=password, totp_code=code,
                                 totp=SEALER, now=now, hasher=CHEAP_HASHER)


def test_hash_password_is_argon2id_and_verifies() -> None:
    hashed = auth.hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert auth.verify_password(hashed, PASSWORD)
    assert not auth.verify_password(hashed, PASSWORD + "x")
    assert not auth.verify_password("not a hash", PASSWORD)


def test_production_hashes_at_full_cost_and_the_test_hasher_is_named_unsafe() -> None:
    # The default, and what every loaded Settings holds: RFC 9106's second profile.
    assert auth.hash_password(PASSWORD).startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert type(auth.ARGON2ID) is Argon2idHasher
    cheap = CHEAP_HASHER.hash(PASSWORD)
    assert cheap.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert type(CHEAP_HASHER).__name__.startswith("Unsafe")
    # A hash records its own costs: either hasher verifies the other's.
    assert auth.verify_password(cheap, PASSWORD)
    assert CHEAP_HASHER.verify(auth.hash_password(PASSWORD), PASSWORD)
    assert CHEAP_HASHER.dummy_hash() == CHEAP_HASHER.dummy_hash()  # made once


def test_short_password_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least 12"):
        auth.hash_password("short")


def test_create_user_checks_role_fits_organisation(engine: Engine) -> None:
    police = _org(engine, OrgKind.POLICE)
    with engine.begin() as conn, pytest.raises(InvalidInput, match="cannot belong"):
        auth.create_user(conn, org_id=police, username="x", display_name="X",
                         role=ActorRole.CASEWORKER, password=PASSWORD)
    with engine.begin() as conn, pytest.raises(InvalidInput, match="victims"):
        auth.create_user(conn, org_id=police, username="x", display_name="X",
                         role="victim", password=PASSWORD)
    with engine.begin() as conn, pytest.raises(InvalidInput, match="unknown role"):
        auth.create_user(conn, org_id=police, username="x", display_name="X",
                         role="boss", password=PASSWORD)


def test_create_user_stores_a_hash_not_the_password(engine: Engine) -> None:
    user_id = _user(engine)
    with engine.begin() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).one()
        with pytest.raises(InvalidInput, match="taken"):
            auth.create_user(conn, org_id=row.org_id, username="amira", display_name="A",
                             role=ActorRole.SUPERVISOR, password=PASSWORD)
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    assert row.role == "caseworker"


def test_first_signin_requires_enrolment(engine: Engine) -> None:
    _user(engine)
    result = _signin(engine, PASSWORD, None, T0)
    assert result.outcome is auth.SignInOutcome.ENROL
    assert result.user is not None and not result.user.totp_enrolled


def test_totp_signin_and_replay_refused(engine: Engine) -> None:
    secret = _enrol(engine, _user(engine))
    code = pyotp.TOTP(secret).at(T0)
    assert _signin(engine, PASSWORD, None, T0).outcome is auth.SignInOutcome.REFUSED
    ok = _signin(engine, PASSWORD, code, T0)
    assert ok.outcome is auth.SignInOutcome.SIGNED_IN
    assert ok.user is not None and ok.user.role is ActorRole.CASEWORKER
    # the same code again, still inside its window: refused (no replay)
    assert _signin(engine, PASSWORD, code, T0 + timedelta(seconds=5)).outcome is \
        auth.SignInOutcome.REFUSED


def test_wrong_password_with_right_code_is_refused(engine: Engine) -> None:
    secret = _enrol(engine, _user(engine))
    code = pyotp.TOTP(secret).at(T0)
    assert _signin(engine, "wrong password!!", code, T0).outcome is auth.SignInOutcome.REFUSED


def test_wrong_codes_after_the_right_password_lock_the_account(engine: Engine) -> None:
    # Only someone who has the password can reach this lock; its answer is the ordinary one.
    secret = _enrol(engine, _user(engine))
    for attempt in range(auth.MAX_FAILED_SIGNINS):
        assert _signin(engine, PASSWORD, "000000", T0).outcome is \
            auth.SignInOutcome.REFUSED, attempt
    later = T0 + timedelta(minutes=1)
    code = pyotp.TOTP(secret).at(later)
    assert _signin(engine, PASSWORD, code, later).outcome is auth.SignInOutcome.REFUSED
    after = T0 + auth.LOCKOUT_PERIOD + timedelta(seconds=31)
    code = pyotp.TOTP(secret).at(after)
    assert _signin(engine, PASSWORD, code, after).outcome is auth.SignInOutcome.SIGNED_IN


def test_unknown_user_is_refused(engine: Engine) -> None:
    assert _signin(engine, PASSWORD, None, T0).outcome is auth.SignInOutcome.REFUSED


def test_enrolment_confirms_with_a_code(engine: Engine) -> None:
    _user(engine)
    with engine.begin() as conn:
        result = auth.authenticate(conn, username="amira", password=PASSWORD, totp_code=None,
                                   totp=SEALER, now=T0, hasher=CHEAP_HASHER)
        assert result.user is not None
        token = auth.start_session(conn, result.user, auth.SessionState.ENROL, now=T0)
        secret = auth.begin_totp_enrolment(conn, token, SEALER)
        assert auth.totp_uri(result.user, secret).startswith("otpauth://totp/")
        wrong = "111111" if pyotp.TOTP(secret).at(T0) != "111111" else "222222"
        assert auth.confirm_totp_enrolment(conn, token, wrong, SEALER, now=T0) is None
        new_token = auth.confirm_totp_enrolment(conn, token, pyotp.TOTP(secret).at(T0), SEALER,
                                                now=T0)
        assert new_token is not None and new_token != token
        session = auth.load_session(conn, new_token, now=T0)
        assert auth.load_session(conn, token, now=T0) is None  # the enrolling token ended
    assert session is not None and session.state is auth.SessionState.ACTIVE
    assert session.user.totp_enrolled


def test_session_idle_timeout_and_sign_out(engine: Engine) -> None:
    _enrol(engine, _user(engine))
    with engine.begin() as conn:
        user = conn.execute(select(users.c.id)).scalar_one()
        staff = auth.get_user(conn, user)
        assert staff is not None
        token = auth.start_session(conn, staff, auth.SessionState.ACTIVE, now=T0)
        # activity keeps it alive past one idle period...
        step = auth.IDLE_TIMEOUT - timedelta(minutes=1)
        assert auth.load_session(conn, token, now=T0 + step) is not None
        assert auth.load_session(conn, token, now=T0 + 2 * step) is not None
        # ...but silence longer than the idle timeout ends it, for good
        assert auth.load_session(conn, token, now=T0 + 3 * step + auth.IDLE_TIMEOUT) is None
        assert auth.load_session(conn, token, now=T0 + 2 * step) is None
        other = auth.start_session(conn, staff, auth.SessionState.ACTIVE, now=T0)
        auth.end_session(conn, other)
        assert auth.load_session(conn, other, now=T0) is None
        assert auth.load_session(conn, "forged-token", now=T0) is None


def test_a_page_checks_its_session_in_two_reads_and_a_deactivated_account_has_none(
    engine: Engine,
) -> None:
    """Every staff page checks its session: the session row, then the account with its
    organisation and whether it is active, in one read (there was a third, for ``active``)."""
    _enrol(engine, _user(engine))
    with engine.begin() as conn:
        staff = auth.get_user(conn, conn.execute(select(users.c.id)).scalar_one())
        assert staff is not None
        token = auth.start_session(conn, staff, auth.SessionState.ACTIVE, now=T0)
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    with engine.connect() as conn:
        event.listen(engine, "before_cursor_execute", seen)
        try:
            found = auth.load_session(conn, token, now=T0, write=False)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    assert found is not None and found.user == staff
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2
    with engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == staff.id).values(active=False))
    with engine.connect() as conn:
        assert auth.load_session(conn, token, now=T0, write=False) is None
