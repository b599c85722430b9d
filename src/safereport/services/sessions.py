"""Staff sessions: server-side rows keyed by the SHA-256 of a random cookie token, with an
idle timeout and an absolute lifetime.

Every function takes a SQLAlchemy connection and never commits: the caller owns the
transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection

from safereport.services.accounts import StaffUser, staff_user
from safereport.store.accounts import user_by_id
from safereport.store.staff_sessions import (
    add_session,
    delete_session,
    session_by_token,
    touch_session,
)

__all__ = [
    "ABSOLUTE_LIFETIME",
    "IDLE_TIMEOUT",
    "SessionState",
    "StaffSession",
    "end_session",
    "load_session",
    "start_session",
    "token_hash",
]

#: A session ends after this long without a request, and in any case after the lifetime.
IDLE_TIMEOUT = timedelta(minutes=15)
ABSOLUTE_LIFETIME = timedelta(hours=12)
_TOUCH_EVERY = timedelta(seconds=15)


class SessionState(StrEnum):
    ACTIVE = "active"
    ENROL = "enrol"
    #: Signed in with a one-time password (and the code, once enrolled): only choosing a new
    #: password is open.
    PASSWORD = "password"


@dataclass(frozen=True, slots=True)
class StaffSession:
    user: StaffUser
    state: SessionState
    #: Read with ``write=False`` when its idle clock is due a touch: load it again to write.
    touch_due: bool = False


def token_hash(token: str) -> str:
    """What is stored of a session's cookie token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(
    conn: Connection, user: StaffUser, state: SessionState, now: datetime | None = None
) -> str:
    """A new server-side session; returns the cookie token (only its hash is stored)."""
    moment = now if now is not None else datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    add_session(conn, token_hash=token_hash(token), user_id=user.id, state=state.value,
                at=moment)
    return token


def load_session(
    conn: Connection, token: str, now: datetime | None = None, *, write: bool = True
) -> StaffSession | None:
    """The live session for ``token`` (touching its idle clock), or None if gone or expired.

    With ``write=False`` nothing is written (a page view can check its session in a read
    snapshot, without the database's write lock): an expired session is just None, and one
    whose idle clock is due a touch comes back with ``touch_due``.
    """
    moment = now if now is not None else datetime.now(UTC)
    key = token_hash(token)
    row = session_by_token(conn, key)
    if row is None:
        return None
    idle = moment - row.last_seen_at
    age = moment - row.created_at
    if idle > IDLE_TIMEOUT or age > ABSOLUTE_LIFETIME:
        if write:
            delete_session(conn, key)
        return None
    record = user_by_id(conn, row.user_id)  # one read: the account, its organisation, active
    if record is None or not record.active:
        return None
    user = staff_user(record)
    if idle > _TOUCH_EVERY:
        # Touch at most every few seconds: a page view need not be a database write, and the
        # idle timeout loses nothing at this granularity.
        if not write:
            return StaffSession(user=user, state=SessionState(row.state), touch_due=True)
        touch_session(conn, key, moment)
    return StaffSession(user=user, state=SessionState(row.state))


def end_session(conn: Connection, token: str) -> None:
    delete_session(conn, token_hash(token))
