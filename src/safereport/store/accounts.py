"""Staff accounts as an administrator sees them: typed rows, the active flag, live sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Select, delete, func, select, update

from safereport.store.core import organisations, users
from safereport.store.staff import staff_sessions

__all__ = ["AccountRow", "StaffIdentity", "account_by_username", "accounts", "active_count",
           "display_names", "end_sessions", "identity_by_username", "org_kind_by_id",
           "set_active"]


class AccountRow(NamedTuple):
    id: str
    username: str
    display_name: str
    role: str
    org_name: str
    active: bool
    enrolled: bool
    locked_until: datetime | None
    sessions: int
    created_at: datetime


def _query() -> Select[Any]:
    live = (
        select(func.count())
        .where(staff_sessions.c.user_id == users.c.id)
        .correlate(users)
        .scalar_subquery()
    )
    return select(
        users.c.id, users.c.username, users.c.display_name, users.c.role,
        organisations.c.name.label("org_name"), users.c.active,
        users.c.totp_secret.is_not(None).label("enrolled"), users.c.locked_until,
        live.label("sessions"), users.c.created_at,
    ).join(organisations, organisations.c.id == users.c.org_id)


def _row(row: object) -> AccountRow:
    return AccountRow(*(getattr(row, name) for name in AccountRow._fields))


def accounts(conn: Connection) -> list[AccountRow]:
    """Every staff account, by username."""
    return [_row(r) for r in conn.execute(_query().order_by(users.c.username)).all()]


def account_by_username(conn: Connection, username: str) -> AccountRow | None:
    row = conn.execute(_query().where(users.c.username == username)).first()
    return _row(row) if row is not None else None


def active_count(conn: Connection, role: str) -> int:
    return int(conn.execute(
        select(func.count()).select_from(users).where(users.c.role == role, users.c.active)
    ).scalar_one())


def set_active(conn: Connection, user_id: str, active: bool) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(active=active))


def end_sessions(conn: Connection, user_id: str) -> int:
    """Delete every session of the account; returns how many there were."""
    result = conn.execute(delete(staff_sessions).where(staff_sessions.c.user_id == user_id))
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    """Who a staff account acts as: its id, role, organisation and that organisation's kind."""

    id: str
    role: str
    org_id: str
    org_kind: str


def identity_by_username(conn: Connection, username: str) -> StaffIdentity:
    """The identity of the account with this username (raises when there is none)."""
    row = conn.execute(
        select(users.c.id, users.c.role, users.c.org_id, organisations.c.kind)
        .join(organisations, organisations.c.id == users.c.org_id)
        .where(users.c.username == username)
    ).one()
    return StaffIdentity(id=row.id, role=row.role, org_id=row.org_id, org_kind=row.kind)


def org_kind_by_id(conn: Connection, org_id: str) -> str | None:
    """The kind of the organisation with this id; none when there is no such organisation."""
    row = conn.execute(
        select(organisations.c.kind).where(organisations.c.id == org_id)
    ).first()
    return str(row.kind) if row is not None else None


def display_names(conn: Connection) -> dict[str, str]:
    """Every account's display name, by its id."""
    rows = conn.execute(select(users.c.id, users.c.display_name)).all()
    return {str(user_id): str(name) for user_id, name in rows}
