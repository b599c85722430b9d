"""What keeps bots off the public forms, held in the database so that every worker (and a
restart) sees the same counts: rate-limit counters, spent proof-of-work challenges, counts of
what was caught, and the day's salt for source keys.

No address is stored: a source is an HMAC of its address under the instance's web key and
the day's random salt (``public_form_salts``), and a day's salt is deleted once the day is over,
after which nobody can tell which address a key of that day stood for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    case,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from safereport.store.metadata import metadata

__all__ = [
    "CounterRow",
    "add_counter",
    "add_salt",
    "count_again",
    "counter",
    "counts_under",
    "public_form_counters",
    "public_form_salts",
    "salt_of",
    "sweep",
]

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


def _insert_new(conn: Connection, table: Table, values: dict[str, object]) -> bool:
    """Insert a row unless its key exists already (atomically); True if added."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return conn.execute(statement).first() is not None


def add_counter(conn: Connection, key: str, window_start: datetime, count: int) -> bool:
    """Start the counter ``key`` unless it exists already (atomically); True if started."""
    return _insert_new(conn, public_form_counters,
                       {"key": key, "window_start": window_start, "count": count})


def count_again(conn: Connection, key: str, moment: datetime, window: timedelta) -> int:
    """Count one more event for the existing counter ``key`` in one atomic statement: a window
    started ``window`` or longer before ``moment`` starts again at ``moment`` with this one.
    Returns the count including it."""
    table = public_form_counters
    expired = table.c.window_start <= moment - window
    counted = conn.execute(
        update(table).where(table.c.key == key).values(
            count=case((expired, 1), else_=table.c.count + 1),
            window_start=case((expired, moment), else_=table.c.window_start),
        ).returning(table.c.count)
    ).scalar_one()
    return int(counted)


@dataclass(frozen=True, slots=True)
class CounterRow:
    """A counter's count and when its window started."""

    count: int
    window_start: datetime


def counter(conn: Connection, key: str) -> CounterRow | None:
    """The counter ``key``, if it exists."""
    row = conn.execute(select(public_form_counters.c.count, public_form_counters.c.window_start)
                       .where(public_form_counters.c.key == key)).first()
    return CounterRow(int(row[0]), row[1]) if row is not None else None


def counts_under(conn: Connection, prefix: str) -> dict[str, int]:
    """Every counter whose key starts with ``prefix``: its whole key and its count."""
    rows = conn.execute(select(public_form_counters.c.key, public_form_counters.c.count)
                        .where(public_form_counters.c.key.startswith(prefix))).all()
    return {str(row[0]): int(row[1]) for row in rows}


def add_salt(conn: Connection, day: str, salt: bytes) -> bool:
    """Keep ``salt`` as the day's salt unless that day has one already; True if kept."""
    return _insert_new(conn, public_form_salts, {"day": day, "salt": salt})


def salt_of(conn: Connection, day: str) -> bytes:
    """The salt of ``day`` (raises when it has none)."""
    return bytes(conn.execute(select(public_form_salts.c.salt)
                              .where(public_form_salts.c.day == day)).scalar_one())


def sweep(conn: Connection, *, day: str, before: datetime, caught_prefix: str,
          caught_before: datetime) -> None:
    """Delete the salts of days before ``day``, counters whose window started before
    ``before`` (except the caught counts, keys starting with ``caught_prefix``), and any
    counter whose window started before ``caught_before``."""
    conn.execute(delete(public_form_salts).where(public_form_salts.c.day < day))
    table = public_form_counters
    conn.execute(delete(table).where(
        table.c.window_start < before, ~table.c.key.startswith(caught_prefix)))
    conn.execute(delete(table).where(table.c.window_start < caught_before))
