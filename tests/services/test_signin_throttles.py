"""Item 3: no stranger can lock a staff account; unknown, wrong and locked look the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import Engine
from tests.services.test_auth import PASSWORD, SEALER, _enrol, _user
from tests.support.cheap_costs import CHEAP_HASHER
from tests.support.staff_client import csrf_of
from tests.support.staff_web import client_from, sign_in
from tests.support.staff_world import StaffWorld

from safereport.domain.passwords import PasswordHasher, UnsafeCheapHasherForTests
from safereport.services import auth

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


class CountingHasher(UnsafeCheapHasherForTests):
    """Argon2id at test cost, counting verifications (the work a sign-in does)."""

    def __init__(self) -> None:
        super().__init__()
        self.verified = 0

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified += 1
        return super().verify(password_hash, password)


def _try(engine: Engine, username: str, password: str, code: str | None,
         when: datetime = T0, hasher: PasswordHasher = CHEAP_HASHER, **source: str
         ) -> auth.SignIn:
    with engine.begin() as conn:
        return auth.authenticate(conn, username=username, password=password, totp_code=code,
                                 totp=SEALER, now=when, hasher=hasher, **source)


def test_item3_a_stranger_cannot_lock_an_account(engine: Engine) -> None:
    secret = _enrol(engine, _user(engine))
    for _ in range(3 * auth.MAX_PAIR_FAILURES):
        _try(engine, "amira", "wrong password!!", None, source="stranger")
    code = pyotp.TOTP(secret).at(T0)
    assert _try(engine, "amira", PASSWORD, code, source="owner").outcome is \
        auth.SignInOutcome.SIGNED_IN


def test_item3_one_answer_and_one_argon2_verification_for_every_refusal(
        engine: Engine) -> None:
    hasher = CountingHasher()
    secret = _enrol(engine, _user(engine))
    hasher.dummy_hash()
    for _ in range(auth.MAX_FAILED_SIGNINS):  # wrong codes after the right password: locked
        _try(engine, "amira", PASSWORD, "000000", hasher=hasher, source="owner")
    for _ in range(auth.MAX_PAIR_FAILURES):  # this source, this name: throttled
        _try(engine, "amira", "wrong password!!", None, hasher=hasher, source="guesser")
    cases = {
        "unknown user": ("nobody", PASSWORD, None, "s1"),
        "wrong password": ("amira", "wrong password!!", None, "s2"),
        "locked account": ("amira", PASSWORD, pyotp.TOTP(secret).at(T0), "s3"),
        "throttled pair": ("amira", PASSWORD, pyotp.TOTP(secret).at(T0), "guesser"),
    }
    answers = {}
    for name, (username, password, code, source) in cases.items():
        before = hasher.verified
        answers[name] = _try(engine, username, password, code, hasher=hasher, source=source)
        assert hasher.verified - before == 1, name
    assert set(answers.values()) == {auth.SignIn(auth.SignInOutcome.REFUSED)}


def test_item3_pair_throttle_is_per_source(engine: Engine) -> None:
    secret = _enrol(engine, _user(engine))
    for _ in range(auth.MAX_PAIR_FAILURES):
        _try(engine, "amira", "wrong password!!", None, source="here")
    code = pyotp.TOTP(secret).at(T0)
    assert _try(engine, "amira", PASSWORD, code, source="here").outcome is \
        auth.SignInOutcome.REFUSED
    assert _try(engine, "amira", PASSWORD, code, source="elsewhere").outcome is \
        auth.SignInOutcome.SIGNED_IN
    # ...and the window passes.
    later = T0 + auth.THROTTLE_WINDOW + timedelta(seconds=31)
    assert _try(engine, "amira", PASSWORD, pyotp.TOTP(secret).at(later), later,
                source="here").outcome is auth.SignInOutcome.SIGNED_IN


def test_item3_source_throttle_spans_usernames(engine: Engine) -> None:
    _enrol(engine, _user(engine))
    for n in range(auth.MAX_SOURCE_FAILURES):
        _try(engine, f"name{n}", "wrong password!!", None, source="sprayer")
    assert _try(engine, "amira", PASSWORD, None, source="sprayer").outcome is \
        auth.SignInOutcome.THROTTLED
    assert _try(engine, "name1", "x", None, source="other").outcome is \
        auth.SignInOutcome.REFUSED


def _refusal(client: object, username: str, password: str, code: str = "") -> tuple[int, str]:
    answer = sign_in(client, username, password, code=code)  # type: ignore[arg-type]
    text = answer.text.replace(csrf_of(answer.text), "")  # type: ignore[attr-defined]
    return answer.status_code, text.replace(username, "")  # type: ignore[attr-defined]


def test_item3_web_answers_alike_and_sessions_survive(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    owner = client_from(w, "198.51.100.7")
    assert sign_in(owner, "cw", secret=w.secrets["cw"]).status_code == 303  # type: ignore[attr-defined]
    stranger = client_from(w, "203.0.113.66")
    answers = {_refusal(stranger, "cw", f"guess number {n}") for n in range(8)}
    answers.add(_refusal(stranger, "no-such-user", "guess number 0"))
    answers.add(_refusal(client_from(w, "203.0.113.67"), "sup1", "right password?", "000000"))
    assert len(answers) == 1 and answers.pop()[0] == 401
    assert owner.get("/staff/cases").status_code == 200  # her session was not ended


def test_item3_throttle_is_shared_by_workers(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    worker_a = client_from(w, "203.0.113.5")
    worker_b = client_from(w, "203.0.113.5")  # another app over the same instance
    for n in range(auth.MAX_SOURCE_FAILURES):
        assert sign_in(worker_a, f"user{n}", "wrong password!!").status_code == 401  # type: ignore[attr-defined]
    assert sign_in(worker_b, "cw", secret=w.secrets["cw"]).status_code == 429  # type: ignore[attr-defined]
    assert sign_in(client_from(w, "203.0.113.99"), "cw",  # type: ignore[attr-defined]
                   secret=w.secrets["cw"]).status_code == 303
