"""Staff sign-in: a password and (once enrolled) a TOTP code, under throttles; and replacing a
one-time password from the session that signed in with it.

Failed sign-ins are throttled without a lock-out that a stranger can trigger: per source
(the client's address, as an opaque key) and per (source, username), counted in the database
so that every worker agrees. An unknown username, a wrong password, a throttled pair and a
locked account all get the same answer after one Argon2id verification. The only account lock
is for wrong TOTP codes after a correct password, which a stranger cannot reach.

Every function takes a SQLAlchemy connection and never commits: the caller owns the
transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection

from safereport.domain.passwords import PasswordHasher
from safereport.errors import InvalidInput
from safereport.services.accounts import (
    ARGON2ID,
    INTEGRATION_ACCOUNT_PREFIX,
    ONE_TIME_PASSWORD_LIFETIME,
    StaffUser,
    get_user,
    hash_password,
    staff_user,
)
from safereport.services.sessions import SessionState, start_session, token_hash
from safereport.services.totp import TotpSealer, accept_code, open_stored_secret
from safereport.store.accounts import (
    clear_code_failures,
    end_sessions,
    replace_password,
    set_code_failures,
    user_by_username,
)
from safereport.store.signin import (
    count_failure,
    failures_since,
    forget_failures,
    forget_failures_before,
)
from safereport.store.staff_sessions import session_account

__all__ = [
    "LOCKOUT_PERIOD",
    "MAX_FAILED_SIGNINS",
    "MAX_PAIR_FAILURES",
    "MAX_SOURCE_FAILURES",
    "THROTTLE_WINDOW",
    "SignIn",
    "SignInOutcome",
    "authenticate",
    "change_password",
]

#: Wrong TOTP codes after a correct password, in a row, that lock an account, and for how
#: long. (Only someone who has the password can reach this lock.)
MAX_FAILED_SIGNINS = 5
LOCKOUT_PERIOD = timedelta(minutes=15)
#: Failed sign-ins per source, and per (source, username), within ``THROTTLE_WINDOW``. Past
#: the first a source is refused outright (HTTP 429); past the second, that source's tries
#: for that username are refused unchecked (with the ordinary answer), while the same
#: username from anywhere else is unaffected.
MAX_SOURCE_FAILURES = 30
MAX_PAIR_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)


class SignInOutcome(StrEnum):
    ENROL = "enrol"  # password right, no TOTP yet: only enrolment is open
    REFUSED = "refused"  # also for unknown users, throttled pairs and locked accounts
    SIGNED_IN = "signed_in"
    THROTTLED = "throttled"  # this source failed too often: it says nothing about the account


@dataclass(frozen=True, slots=True)
class SignIn:
    outcome: SignInOutcome
    user: StaffUser | None = None
    #: The password was a one-time password set by an administrator: the session may only
    #: choose a new one (SessionState.PASSWORD).
    must_change_password: bool = False


def authenticate(
    conn: Connection,
    *,
    username: str,
    password: str,
    totp_code: str | None,
    totp: TotpSealer,
    now: datetime | None = None,
    source: str = "",
    hasher: PasswordHasher = ARGON2ID,
) -> SignIn:
    """Check a password and (once enrolled) a TOTP code, under the sign-in throttles.

    ``source`` is an opaque, stable key for where the attempt came from (the web layer's
    keyed hash of the client address; empty for none). The caller must commit even when
    sign-in is refused: the failure counts are the throttle.
    """
    moment = now if now is not None else datetime.now(UTC)
    name = username.strip()
    keys = _throttle_keys(source, name)
    if _failures(conn, keys[0], moment) >= MAX_SOURCE_FAILURES:
        return SignIn(SignInOutcome.THROTTLED)
    row = None
    if _failures(conn, keys[1], moment) < MAX_PAIR_FAILURES:
        row = user_by_username(conn, name)
    # An integration's service account (services/integrations.py) acts only through its API
    # token: never through this door, even if someone enabled it and gave it a password.
    if row is None or not row.active or row.username.startswith(INTEGRATION_ACCOUNT_PREFIX):
        hasher.verify(hasher.dummy_hash(), password)  # the same cost whether or not it exists
        return _fail(conn, keys, moment)
    if not hasher.verify(row.password_hash, password):
        return _fail(conn, keys, moment)
    if row.locked_until is not None and row.locked_until > moment:
        return _fail(conn, keys, moment)  # the same answer, after the same work
    reset_at = row.password_reset_at
    if reset_at is not None and reset_at + ONE_TIME_PASSWORD_LIFETIME <= moment:
        return _fail(conn, keys, moment)  # a one-time password past its time
    if row.totp_secret is None:
        _succeed(conn, keys, row.id)
        return SignIn(SignInOutcome.ENROL, user=staff_user(row),
                      must_change_password=reset_at is not None)
    secret = open_stored_secret(conn, totp, row.id, row.totp_secret)
    if secret is None or not accept_code(conn, row.id, secret, totp_code or "", moment):
        _count_code_failure(conn, row.id, row.failed_logins, moment)
        return _fail(conn, keys, moment)
    _succeed(conn, keys, row.id)
    return SignIn(SignInOutcome.SIGNED_IN, user=staff_user(row),
                  must_change_password=reset_at is not None)


# ---- throttles ------------------------------------------------------------------------------


def _throttle_keys(source: str, username: str) -> tuple[str, str]:
    """(the source's key, the (source, username) pair's key): hashes, never the values."""
    by_source = hashlib.sha256(b"signin/source\0" + source.encode()).hexdigest()
    pair = hashlib.sha256(
        b"signin/pair\0" + source.encode() + b"\0" + username.casefold().encode(
            "utf-8", "replace")
    ).hexdigest()
    return by_source, pair


def _failures(conn: Connection, key: str, moment: datetime) -> int:
    return failures_since(conn, key, moment - THROTTLE_WINDOW)


def _fail(conn: Connection, keys: tuple[str, str], moment: datetime) -> SignIn:
    for key in keys:
        count_failure(conn, key, moment, THROTTLE_WINDOW)
    # Counts from long ago mean nothing: keep the table small.
    forget_failures_before(conn, moment - 4 * THROTTLE_WINDOW)
    return SignIn(SignInOutcome.REFUSED)


def _count_code_failure(conn: Connection, user_id: str, failures: int, moment: datetime) -> None:
    """A wrong TOTP code after the right password; enough in a row lock the account."""
    count = failures + 1
    locked_until = moment + LOCKOUT_PERIOD if count >= MAX_FAILED_SIGNINS else None
    set_code_failures(conn, user_id, 0 if locked_until else count, locked_until)


def _succeed(conn: Connection, keys: tuple[str, str], user_id: str) -> None:
    # The pair's count is forgiven; the source's is not (one good account must not let a
    # source go on guessing others).
    forget_failures(conn, keys[1])
    clear_code_failures(conn, user_id)


# ---- a one-time password replaced ------------------------------------------------------------


def change_password(
    conn: Connection, token: str, new_password: str, now: datetime | None = None,
    hasher: PasswordHasher = ARGON2ID,
) -> tuple[str, SessionState] | None:
    """Replace a one-time password with the person's own, from the session that signed in
    with it (state ``password``). Every session of the account ends; returns the new
    session's token and state (``enrol`` if the account has no second factor yet, else
    ``active``), or None if this session may not change the password. InvalidInput for a
    password too short or the same as the one-time one."""
    row = session_account(conn, token_hash(token))
    if (row is None or row.session.state != SessionState.PASSWORD.value
            or row.password_reset_at is None):
        return None
    user_id = row.session.user_id
    if hasher.verify(row.password_hash, new_password):
        raise InvalidInput("choose a new password, not the one-time password you were given")
    replace_password(conn, user_id, hash_password(new_password, hasher))
    end_sessions(conn, user_id)
    user = get_user(conn, user_id)
    if user is None:
        return None
    state = SessionState.ACTIVE if user.totp_enrolled else SessionState.ENROL
    return start_session(conn, user, state, now=now), state
