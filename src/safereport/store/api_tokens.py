"""Integration tokens (issue 20): one row per token of the JSON API.

The secret itself is never stored: ``token_hash`` is the SHA-256 of it (a token is 32 random
bytes, so a fast hash is enough; nothing to guess). Each token acts as one service account
(``user_id``, a row of ``users`` that can never sign in), which gives it its organisation and
its role. ``scopes`` lists the operations it may call, separated by spaces. The per-token rate
limit counts calls in fixed one-minute windows held here, so every worker sees the same count.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
)

from safereport.store.metadata import metadata

__all__ = ["api_tokens"]

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
