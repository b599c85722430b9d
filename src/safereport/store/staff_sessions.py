"""Staff sessions: server-side rows keyed by the SHA-256 of the cookie's token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, insert, select, update

from safereport.store.core import users
from safereport.store.staff import staff_sessions
from safereport.store.times import aware as _aware

__all__ = [
    "SessionAccount",
    "SessionRow",
    "add_session",
    "delete_session",
    "sealed_pending_secret",
    "session_account",
    "session_by_token",
    "set_pending_totp_secret",
    "touch_session",
]




def _maybe_aware(moment: datetime | None) -> datetime | None:
    return _aware(moment) if moment is not None else None


@dataclass(frozen=True, slots=True)
class SessionRow:
    token_hash: str
    user_id: str
    state: str
    pending_totp_secret: str | None
    created_at: datetime
    last_seen_at: datetime


def _session(row: Row[Any]) -> SessionRow:
    return SessionRow(
        token_hash=row.token_hash,
        user_id=row.user_id,
        state=row.state,
        pending_totp_secret=row.pending_totp_secret,
        created_at=_aware(row.created_at),
        last_seen_at=_aware(row.last_seen_at),
    )


#: Every staff page reads its session: built once.
_BY_TOKEN = select(staff_sessions).where(staff_sessions.c.token_hash == bindparam("token_hash"))


def session_by_token(conn: Connection, token_hash: str) -> SessionRow | None:
    row = conn.execute(_BY_TOKEN, {"token_hash": token_hash}).first()
    return _session(row) if row is not None else None


@dataclass(frozen=True, slots=True)
class SessionAccount:
    """A session with what enrolment and a password change need of its account."""

    session: SessionRow
    totp_enrolled: bool
    password_hash: str
    password_reset_at: datetime | None


def session_account(conn: Connection, token_hash: str) -> SessionAccount | None:
    row = conn.execute(
        select(staff_sessions, users.c.totp_secret, users.c.password_hash,
               users.c.password_reset_at)
        .join(users, users.c.id == staff_sessions.c.user_id)
        .where(staff_sessions.c.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    return SessionAccount(
        session=_session(row),
        totp_enrolled=row.totp_secret is not None,
        password_hash=row.password_hash,
        password_reset_at=_maybe_aware(row.password_reset_at),
    )


def add_session(
    conn: Connection, *, token_hash: str, user_id: str, state: str, at: datetime
) -> None:
    conn.execute(
        insert(staff_sessions).values(
            token_hash=token_hash,
            user_id=user_id,
            state=state,
            pending_totp_secret=None,
            created_at=at,
            last_seen_at=at,
        )
    )


def touch_session(conn: Connection, token_hash: str, at: datetime) -> None:
    conn.execute(
        update(staff_sessions)
        .where(staff_sessions.c.token_hash == token_hash)
        .values(last_seen_at=at)
    )


def delete_session(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == token_hash))


def set_pending_totp_secret(conn: Connection, token_hash: str, sealed: str) -> None:
    conn.execute(
        update(staff_sessions)
        .where(staff_sessions.c.token_hash == token_hash)
        .values(pending_totp_secret=sealed)
    )


def sealed_pending_secret(conn: Connection, token_hash: str) -> str | None:
    """The session's sealed pending secret, or None."""
    stored = conn.execute(
        select(staff_sessions.c.pending_totp_secret).where(
            staff_sessions.c.token_hash == token_hash
        )
    ).scalar()
    return str(stored) if stored is not None else None
