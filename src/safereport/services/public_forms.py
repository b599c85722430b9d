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

from sqlalchemy import Engine

from safereport.store.public_forms import (
    add_counter,
    add_salt,
    count_again,
    counter,
    counts_under,
    salt_of,
    sweep,
)

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


def hit(engine: Engine, key: str, window: timedelta, *, now: datetime | None = None) -> int:
    """Count one event for ``key`` in its current window; the count including this one.

    The window starts at the key's first event and lasts ``window``; the first event after it
    starts a new one.
    """
    moment = _now(now)
    with engine.begin() as conn:
        if add_counter(conn, key, moment, 1):
            return 1
        return count_again(conn, key, moment, window)


def peek(engine: Engine, key: str, window: timedelta, *,
         now: datetime | None = None) -> tuple[int, datetime]:
    """(the count of ``key`` in its current window, when that window ends), adding nothing."""
    moment = _now(now)
    with engine.connect() as conn:
        row = counter(conn, key)
    if row is None or _aware(row.window_start) <= moment - window:
        return 0, moment
    return row.count, _aware(row.window_start) + window


def spend(engine: Engine, key: str, until: datetime) -> bool:
    """Mark ``key`` (a challenge's hash) used; True only for the first caller, ever."""
    with engine.begin() as conn:
        return add_counter(conn, "spent/" + key, until, 1)


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
        counts = counts_under(conn, prefix)
    return {key[len(prefix):]: count for key, count in counts.items()}


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
        add_salt(conn, day, secrets.token_bytes(32))
        salt = salt_of(conn, day)
        # Once a day: earlier salts go (their keys become unlinkable), old counts with them.
        sweep(conn, day=day, before=moment - _KEEP, caught_prefix=_CAUGHT,
              caught_before=moment - _KEEP_CAUGHT)
    with _salts_lock:
        for old in [k for k in _salts if k[0] == id(engine) and k[1] != day]:
            del _salts[old]
        _salts[cache_key] = salt
    return salt
