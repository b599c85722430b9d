"""Integration tokens (issue 20): one row per token of the JSON API.

The secret itself is never stored: ``token_hash`` is the SHA-256 of it (a token is 32 random
bytes, so a fast hash is enough; nothing to guess). Each token acts as one service account
(``user_id``, a row of ``users`` that can never sign in), which gives it its organisation and
its role. ``scopes`` lists the operations it may call, separated by spaces. The per-token rate
limit counts calls in fixed one-minute windows held here, so every worker sees the same count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Integer,
    Select,
    String,
    Table,
    Text,
    and_,
    select,
    update,
)

from safereport.store.core import organisations, users
from safereport.store.metadata import metadata

__all__ = [
    "Revocation",
    "TokenRow",
    "api_tokens",
    "count_call",
    "insert_token",
    "revocation_of",
    "revoke",
    "token_by_hash",
    "token_name_taken",
    "tokens",
]

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scopes", Text, nullable=False),
    Column("rate_per_minute", Integer, nullable=False),
    Column("window_minute", BigInteger, nullable=False, server_default="0"),
    Column("window_count", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A token with the service account it acts as: that account's role and organisation.
    ``scopes`` are separated by spaces; ``token_hash`` is the SHA-256 of the secret."""

    id: str
    name: str
    user_id: str
    token_hash: str
    scopes: str
    rate_per_minute: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    role: str
    username: str
    display_name: str
    org_id: str
    org_name: str
    org_kind: str


def _token_query() -> Select[Any]:
    return (select(api_tokens, users.c.role, users.c.username, users.c.display_name,
                   users.c.org_id, organisations.c.name.label("org_name"),
                   organisations.c.kind.label("org_kind"))
            .join(users, users.c.id == api_tokens.c.user_id)
            .join(organisations, organisations.c.id == users.c.org_id))


def _token(row: Any) -> TokenRow:
    return TokenRow(
        id=row.id, name=row.name, user_id=row.user_id, token_hash=row.token_hash,
        scopes=row.scopes, rate_per_minute=row.rate_per_minute, created_at=row.created_at,
        last_used_at=row.last_used_at, revoked_at=row.revoked_at, role=row.role,
        username=row.username, display_name=row.display_name, org_id=row.org_id,
        org_name=row.org_name, org_kind=row.org_kind,
    )


def tokens(conn: Connection) -> list[TokenRow]:
    """Every token, revoked ones too, by name."""
    return [_token(row) for row in conn.execute(_token_query().order_by(api_tokens.c.name))]


def token_by_hash(conn: Connection, token_hash: str) -> TokenRow | None:
    """The token whose secret hashes to ``token_hash``, if any."""
    row = conn.execute(_token_query().where(api_tokens.c.token_hash == token_hash)).first()
    return _token(row) if row is not None else None


def token_name_taken(conn: Connection, name: str) -> bool:
    """Whether a token (revoked or not) has this name."""
    found = conn.execute(select(api_tokens.c.id).where(api_tokens.c.name == name)).first()
    return found is not None


def insert_token(conn: Connection, *, id: str, name: str, user_id: str, token_hash: str,
                 scopes: str, rate_per_minute: int, created_at: datetime) -> None:
    """Write a new token, its rate window empty."""
    conn.execute(api_tokens.insert().values(
        id=id, name=name, user_id=user_id, token_hash=token_hash, scopes=scopes,
        rate_per_minute=rate_per_minute, window_minute=0, window_count=0,
        created_at=created_at))


@dataclass(frozen=True, slots=True)
class Revocation:
    """Whether a named token is revoked: when, or none while it stands."""

    revoked_at: datetime | None


def revocation_of(conn: Connection, name: str) -> Revocation | None:
    """The named token's revocation state; none when there is no such token."""
    row = conn.execute(select(api_tokens.c.revoked_at).where(api_tokens.c.name == name)).first()
    return Revocation(row.revoked_at) if row is not None else None


def revoke(conn: Connection, name: str, moment: datetime) -> None:
    """Mark the named token revoked at ``moment``."""
    conn.execute(update(api_tokens).where(api_tokens.c.name == name).values(revoked_at=moment))


def count_call(conn: Connection, token_id: str, minute: int, moment: datetime) -> int:
    """Count one call in the token's current minute; returns the count including it."""
    conn.execute(update(api_tokens).where(and_(
        api_tokens.c.id == token_id, api_tokens.c.window_minute != minute)).values(
        window_minute=minute, window_count=0))
    conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(
        window_count=api_tokens.c.window_count + 1, last_used_at=moment))
    return int(conn.execute(select(api_tokens.c.window_count).where(
        api_tokens.c.id == token_id)).scalar_one())
