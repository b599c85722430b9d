"""Counts that keep bots off the public forms, shared by every worker through the database.

* :func:`hit` counts one event for a key in a fixed window and returns the count so far, in one
  atomic statement (two workers counting at once both count);
* :func:`spend` marks a proof-of-work challenge used: only the first caller gets True;
* :func:`record_caught` / :func:`caught_counts`: how many submissions each layer stopped, per
  day (counts only, never what was typed);
* :func:`day_salt`: the day's random salt for source keys, made by the first worker that needs
  it; earlier days' salts are deleted, so a key of an earlier day can no longer be linked to an
  address by anyone, even with the database and the web key.

The keys are made by the web layer (:mod:`safereport.web.victim_bots`); nothing here sees an
address.
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, Table, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from safereport.store.public_forms import public_form_counters, public_form_salts

__all__ = ["caught_counts", "day_salt", "hit", "peek", "record_caught", "spend"]

#: Counters and spent challenges older than this are deleted (a window is at most a day).
_KEEP = timedelta(days=2)
#: What each layer caught, per day, is kept this long (the auditor's view of an attack).
_KEEP_CAUGHT = timedelta(days=90)
_CAUGHT = "caught/"

_salts: dict[tuple[int, str], bytes] = {}
_salts_lock = threading.Lock()


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _insert_new(conn: Connection, values: dict[str, object],
                table: Table = public_form_counters) -> bool:
    """Insert a row unless its key exists already (atomically); True if added."""
    target = table
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(target.primary_key.columns))
    statement = dialect.insert(target).values(**values).on_conflict_do_nothing().returning(key)
    return conn.execute(statement).first() is not None


def hit(engine: Engine, key: str, window: timedelta, *, now: datetime | None = None) -> int:
    """Count one event for ``key`` in its current window; the count including this one.

    The window starts at the key's first event and lasts ``window``; the first event after it
    starts a new one.
    """
    moment = _now(now)
    table = public_form_counters
    with engine.begin() as conn:
        if _insert_new(conn, {"key": key, "window_start": moment, "count": 1}):
            return 1
        expired = table.c.window_start <= moment - window
        counted = conn.execute(
            update(table).where(table.c.key == key).values(
                count=case((expired, 1), else_=table.c.count + 1),
                window_start=case((expired, moment), else_=table.c.window_start),
            ).returning(table.c.count)
        ).scalar_one()
        return int(counted)


def peek(engine: Engine, key: str, window: timedelta, *,
         now: datetime | None = None) -> tuple[int, datetime]:
    """(the count of ``key`` in its current window, when that window ends), adding nothing."""
    moment = _now(now)
    with engine.connect() as conn:
        row = conn.execute(select(public_form_counters.c.count, public_form_counters.c.window_start)
                           .where(public_form_counters.c.key == key)).first()
    if row is None or _aware(row[1]) <= moment - window:
        return 0, moment
    return int(row[0]), _aware(row[1]) + window


def spend(engine: Engine, key: str, until: datetime) -> bool:
    """Mark ``key`` (a challenge's hash) used; True only for the first caller, ever."""
    with engine.begin() as conn:
        return _insert_new(conn, {"key": "spent/" + key, "window_start": until, "count": 1})


def record_caught(engine: Engine, what: str, *, now: datetime | None = None) -> None:
    """Count one submission stopped by a layer (``what``: e.g. ``honeypot/report``)."""
    moment = _now(now)
    day = moment.strftime("%Y-%m-%d")
    hit(engine, f"{_CAUGHT}{day}/{what}", timedelta(days=1), now=moment.replace(
        hour=0, minute=0, second=0, microsecond=0) + timedelta(hours=12))


def caught_counts(engine: Engine, day: str) -> dict[str, int]:
    """What each layer stopped on ``day`` (YYYY-MM-DD, UTC): ``{"honeypot/report": 3, ...}``."""
    prefix = f"{_CAUGHT}{day}/"
    with engine.connect() as conn:
        rows = conn.execute(select(public_form_counters.c.key, public_form_counters.c.count)
                            .where(public_form_counters.c.key.startswith(prefix))).all()
    return {str(row[0])[len(prefix):]: int(row[1]) for row in rows}


def day_salt(engine: Engine, *, now: datetime | None = None) -> bytes:
    """Today's salt (UTC day), the same for every worker; made and swept once a day."""
    moment = _now(now)
    day = moment.strftime("%Y-%m-%d")
    cache_key = (id(engine), day)
    with _salts_lock:
        found = _salts.get(cache_key)
    if found is not None:
        return found
    with engine.begin() as conn:
        _insert_new(conn, {"day": day, "salt": secrets.token_bytes(32)}, public_form_salts)
        salt = bytes(conn.execute(select(public_form_salts.c.salt)
                                  .where(public_form_salts.c.day == day)).scalar_one())
        # Once a day: earlier salts go (their keys become unlinkable), old counts with them.
        conn.execute(delete(public_form_salts).where(public_form_salts.c.day < day))
        table = public_form_counters
        conn.execute(delete(table).where(
            table.c.window_start < moment - _KEEP, ~table.c.key.startswith(_CAUGHT)))
        conn.execute(delete(table).where(table.c.window_start < moment - _KEEP_CAUGHT))
    with _salts_lock:
        for old in [k for k in _salts if k[0] == id(engine) and k[1] != day]:
            del _salts[old]
        _salts[cache_key] = salt
    return salt
