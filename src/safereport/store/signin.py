"""Sign-in state: the failure counts that throttle sign-ins, and each account's last used
TOTP step (a code is good once)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from safereport.store.staff import staff_signin_state, staff_signin_throttle
from safereport.store.times import aware as _aware

__all__ = [
    "claim_totp_step",
    "count_failure",
    "failures_since",
    "forget_failures",
    "forget_failures_before",
    "forget_used_codes",
]




def _insert_ignoring_conflict(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert ``values`` unless the primary key exists already (atomically); True if added."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    # RETURNING, not rowcount: a driver may report -1 for an INSERT ... ON CONFLICT.
    return conn.execute(statement).first() is not None


# ---- throttles --------------------------------------------------------------------------------


def failures_since(conn: Connection, key: str, window_start: datetime) -> int:
    """The failures counted under ``key`` in a window that began after ``window_start``
    (0 for none, or for a window that began at or before it)."""
    row = conn.execute(select(staff_signin_throttle).where(
        staff_signin_throttle.c.key == key)).first()
    if row is None or _aware(row.window_start) <= window_start:
        return 0
    return int(row.failures)


def count_failure(conn: Connection, key: str, moment: datetime, window: timedelta) -> None:
    """One more failure under ``key``; a window older than ``window`` starts again at 1."""
    table = staff_signin_throttle
    if _insert_ignoring_conflict(conn, table, {"key": key, "window_start": moment,
                                               "failures": 1}):
        return
    expired = table.c.window_start <= moment - window
    conn.execute(update(table).where(table.c.key == key).values(
        failures=case((expired, 1), else_=table.c.failures + 1),
        window_start=case((expired, moment), else_=table.c.window_start),
    ))


def forget_failures_before(conn: Connection, moment: datetime) -> None:
    """Drop every count whose window began before ``moment``."""
    conn.execute(delete(staff_signin_throttle).where(
        staff_signin_throttle.c.window_start < moment))


def forget_failures(conn: Connection, key: str) -> None:
    conn.execute(delete(staff_signin_throttle).where(staff_signin_throttle.c.key == key))


# ---- used TOTP codes --------------------------------------------------------------------------


def claim_totp_step(conn: Connection, user_id: str, step: int) -> bool:
    """Record ``step`` as the account's last used TOTP step, if it is later than the last;
    True if this call recorded it. One atomic write: a conditional UPDATE or, for a first
    code, an INSERT that does nothing on conflict, so of two racing calls one wins."""
    table = staff_signin_state
    moved = conn.execute(
        update(table)
        .where(table.c.user_id == user_id, table.c.last_totp_step < step)
        .values(last_totp_step=step)
        .returning(table.c.user_id)
    ).first()
    if moved is not None:
        return True
    return _insert_ignoring_conflict(conn, table, {"user_id": user_id, "last_totp_step": step})


def forget_used_codes(conn: Connection, user_id: str) -> None:
    conn.execute(delete(staff_signin_state).where(staff_signin_state.c.user_id == user_id))
