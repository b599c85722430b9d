"""Second-factor resets: one administrator asks, a different one confirms (or any cancels)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from safereport.store.core import users
from safereport.store.staff import staff_factor_resets
from safereport.store.times import aware as _aware

__all__ = [
    "FactorResetRow",
    "WaitingReset",
    "add_factor_reset",
    "cancel_open_factor_resets",
    "confirm_open_factor_reset",
    "open_factor_resets",
    "open_factor_resets_of",
    "withdraw_factor_reset",
]

_table = staff_factor_resets




@dataclass(frozen=True, slots=True)
class FactorResetRow:
    """A reset asked for and neither confirmed nor cancelled."""

    id: str
    user_id: str
    requested_by: str
    requested_at: datetime
    reason: str


def _reset(row: Row[Any]) -> FactorResetRow:
    return FactorResetRow(row.id, row.user_id, row.requested_by, _aware(row.requested_at),
                          row.reason)


def open_factor_resets_of(conn: Connection, user_id: str) -> list[FactorResetRow]:
    """The account's resets neither confirmed nor cancelled, newest first (old ones too)."""
    rows = conn.execute(select(_table).where(
        _table.c.user_id == user_id,
        _table.c.confirmed_at.is_(None),
        _table.c.cancelled_at.is_(None),
    ).order_by(_table.c.requested_at.desc())).all()
    return [_reset(row) for row in rows]


def add_factor_reset(
    conn: Connection, *, reset_id: str, user_id: str, requested_by: str,
    requested_at: datetime, reason: str,
) -> None:
    conn.execute(insert(_table).values(
        id=reset_id, user_id=user_id, requested_by=requested_by, requested_at=requested_at,
        reason=reason))


def confirm_open_factor_reset(
    conn: Connection, reset_id: str, confirmed_by: str, at: datetime
) -> str | None:
    """Confirm the reset if it is still open (atomically); its id, or None if it was
    confirmed or cancelled meanwhile."""
    done = conn.execute(update(_table).where(
        _table.c.id == reset_id,
        _table.c.confirmed_at.is_(None),
        _table.c.cancelled_at.is_(None),
    ).values(confirmed_by=confirmed_by, confirmed_at=at).returning(_table.c.id)).first()
    return str(done.id) if done is not None else None


def cancel_open_factor_resets(
    conn: Connection, user_id: str, cancelled_by: str, at: datetime
) -> None:
    """Cancel every open reset of the account."""
    conn.execute(update(_table).where(
        _table.c.user_id == user_id,
        _table.c.confirmed_at.is_(None),
        _table.c.cancelled_at.is_(None),
    ).values(cancelled_by=cancelled_by, cancelled_at=at))


def withdraw_factor_reset(
    conn: Connection, reset_id: str, cancelled_by: str, at: datetime
) -> None:
    """Cancel this one reset."""
    conn.execute(update(_table).where(_table.c.id == reset_id).values(
        cancelled_by=cancelled_by, cancelled_at=at))


@dataclass(frozen=True, slots=True)
class WaitingReset:
    """An open reset with the account's username and the asker's (None if gone)."""

    reset: FactorResetRow
    username: str
    asker_name: str | None


def open_factor_resets(conn: Connection) -> list[WaitingReset]:
    """Every open reset (old ones too), oldest first."""
    asker = users.alias("asker")
    rows = conn.execute(
        select(_table, users.c.username, asker.c.username.label("asker_name"))
        .join(users, users.c.id == _table.c.user_id)
        .outerjoin(asker, asker.c.id == _table.c.requested_by)
        .where(_table.c.confirmed_at.is_(None), _table.c.cancelled_at.is_(None))
        .order_by(_table.c.requested_at)
    ).all()
    return [WaitingReset(_reset(row), row.username, row.asker_name) for row in rows]
