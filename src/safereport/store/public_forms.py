"""What keeps bots off the public forms, held in the database so that every worker (and a
restart) sees the same counts: rate-limit counters, spent proof-of-work challenges, counts of
what was caught, and the day's salt for source keys.

No address is stored: a source is an HMAC of its address under the instance's web key and
the day's random salt (``public_form_salts``), and a day's salt is deleted once the day is over,
after which nobody can tell which address a key of that day stood for.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, String, Table

from safereport.store.metadata import metadata

__all__ = ["public_form_counters", "public_form_salts"]

public_form_counters = Table(
    "public_form_counters",
    metadata,
    # "source/<hmac>", "all/<hour>", "spent/<sha256 of a challenge>", "caught/<day>/<what>":
    # hashes and names only, never an address or anything typed.
    Column("key", String(96), primary_key=True),
    # the start of the key's counting window (for a spent challenge: when it expires)
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("count", Integer, nullable=False),
    Index("ix_public_form_counters_window_start", "window_start"),
)

public_form_salts = Table(
    "public_form_salts",
    metadata,
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD (UTC)
    Column("salt", LargeBinary, nullable=False),  # 32 random bytes
)
