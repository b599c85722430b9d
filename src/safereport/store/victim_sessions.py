"""The victim's return sessions and spent form tokens, shared by every worker process.

Keys are SHA-256 hashes of the opaque cookie value or form token, never the values; the
session's contents are sealed (``vault.transient``). Query functions never commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Connection, Float, LargeBinary, String, Table, delete, select
from sqlalchemy.exc import IntegrityError

from safereport.store.metadata import metadata

__all__ = [
    "SessionRow",
    "delete_session",
    "expire",
    "get_session",
    "insert_session",
    "spend_token",
    "update_session",
    "victim_sessions",
    "victim_spent_tokens",
]

victim_sessions = Table(
    "victim_sessions",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("expires", Float, nullable=False, index=True),  # seconds since the epoch
    Column("sealed", LargeBinary, nullable=False),
)

victim_spent_tokens = Table(
    "victim_spent_tokens",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("expires", Float, nullable=False, index=True),
)


@dataclass(frozen=True)
class SessionRow:
    key: str
    expires: float
    sealed: bytes


def insert_session(conn: Connection, key: str, expires: float, sealed: bytes) -> None:
    conn.execute(victim_sessions.insert().values(key=key, expires=expires, sealed=sealed))


def get_session(conn: Connection, key: str, now: float) -> SessionRow | None:
    row = conn.execute(
        select(victim_sessions).where(victim_sessions.c.key == key,
                                      victim_sessions.c.expires > now)
    ).first()
    return None if row is None else SessionRow(row.key, float(row.expires), bytes(row.sealed))


def update_session(conn: Connection, key: str, sealed: bytes) -> None:
    conn.execute(victim_sessions.update().where(victim_sessions.c.key == key)
                 .values(sealed=sealed))


def delete_session(conn: Connection, key: str) -> None:
    conn.execute(delete(victim_sessions).where(victim_sessions.c.key == key))


def expire(conn: Connection, now: float) -> None:
    conn.execute(delete(victim_sessions).where(victim_sessions.c.expires <= now))
    conn.execute(delete(victim_spent_tokens).where(victim_spent_tokens.c.expires <= now))


def spend_token(conn: Connection, key: str, expires: float, now: float) -> bool:
    """Record a token as spent: True the first time, False if it was spent already.

    One atomic insert (a primary key), so two workers racing the same replay cannot both win.
    """
    if conn.execute(select(victim_spent_tokens.c.key).where(
            victim_spent_tokens.c.key == key, victim_spent_tokens.c.expires > now)).first():
        return False
    conn.execute(delete(victim_spent_tokens).where(victim_spent_tokens.c.key == key))
    try:
        with conn.begin_nested():
            conn.execute(victim_spent_tokens.insert().values(key=key, expires=expires))
    except IntegrityError:
        return False
    return True
