"""Staff accounts: typed rows for sign-in and for the administrator, and the writes to them.

Datetimes come back aware (UTC): SQLite hands back naive ones even for timezone columns, and
they were stored as UTC. (``AccountRow`` keeps what the database gives, as it always has.)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, delete, func, insert, select, update

from safereport.store.core import organisations, users
from safereport.store.staff import staff_sessions
from safereport.store.times import aware as _aware

__all__ = [
    "AccountRow",
    "StaffIdentity",
    "StoredTotpSecret",
    "UserRecord",
    "account_by_username",
    "accounts",
    "active_count",
    "add_user_row",
    "clear_code_failures",
    "display_names",
    "end_sessions",
    "identity_by_username",
    "lock_active_admins",
    "mark_one_time_password",
    "org_kind_by_id",
    "org_of_user",
    "remove_second_factor",
    "replace_password",
    "set_active",
    "set_code_failures",
    "set_one_time_password",
    "set_role",
    "set_totp_secret",
    "store_first_totp_secret",
    "stored_totp_secrets",
    "user_by_id",
    "user_by_username",
    "username_taken",
    "usernames_with_one_time_password",
]




def _maybe_aware(moment: datetime | None) -> datetime | None:
    return _aware(moment) if moment is not None else None


# ---- the administrator's view ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountRow:
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


_ACCOUNT_FIELDS = tuple(field.name for field in fields(AccountRow))


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


def _row(row: Row[Any]) -> AccountRow:
    return AccountRow(*(getattr(row, name) for name in _ACCOUNT_FIELDS))


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


def lock_active_admins(conn: Connection, admin_role: str) -> None:
    """Lock the rows of the active accounts holding ``admin_role`` until the transaction ends
    (PostgreSQL; SQLite writes one at a time anyway)."""
    conn.execute(select(users.c.id).where(
        users.c.role == admin_role, users.c.active).with_for_update()).all()


def org_of_user(conn: Connection, user_id: str) -> str:
    """The organisation id of an account that exists."""
    return str(conn.execute(select(users.c.org_id).where(users.c.id == user_id)).scalar_one())


def set_role(conn: Connection, user_id: str, role: str) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(role=role))


def usernames_with_one_time_password(conn: Connection) -> set[str]:
    """Usernames whose password is a one-time password still to be changed."""
    return {str(name) for name in conn.execute(select(users.c.username).where(
        users.c.password_reset_at.is_not(None))).scalars()}


# ---- one account, as sign-in sees it ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A staff account's row with its organisation's kind and name."""

    id: str
    org_id: str
    org_kind: str
    org_name: str
    username: str
    display_name: str
    role: str
    password_hash: str
    totp_secret: bytes | None
    failed_logins: int
    locked_until: datetime | None
    password_reset_at: datetime | None
    active: bool


def _user_query() -> Select[Any]:
    return select(
        users,
        organisations.c.kind.label("org_kind"),
        organisations.c.name.label("org_name"),
    ).join(organisations, organisations.c.id == users.c.org_id)


def _user(row: Row[Any]) -> UserRecord:
    return UserRecord(
        id=row.id,
        org_id=row.org_id,
        org_kind=row.org_kind,
        org_name=row.org_name,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        password_hash=row.password_hash,
        totp_secret=bytes(row.totp_secret) if row.totp_secret is not None else None,
        failed_logins=int(row.failed_logins),
        locked_until=_maybe_aware(row.locked_until),
        password_reset_at=_maybe_aware(row.password_reset_at),
        active=bool(row.active),
    )


#: Every staff page reads its signed-in account: built once.
_USER_BY_ID = _user_query().where(users.c.id == bindparam("user_id"))


def user_by_id(conn: Connection, user_id: str) -> UserRecord | None:
    row = conn.execute(_USER_BY_ID, {"user_id": user_id}).first()
    return _user(row) if row is not None else None


def user_by_username(conn: Connection, username: str) -> UserRecord | None:
    row = conn.execute(_user_query().where(users.c.username == username)).first()
    return _user(row) if row is not None else None


def username_taken(conn: Connection, username: str) -> bool:
    return conn.execute(select(users.c.id).where(users.c.username == username)).first() is not None


def add_user_row(
    conn: Connection, *, user_id: str, org_id: str, username: str, display_name: str,
    role: str, password_hash: str, created_at: datetime,
) -> None:
    """A new active account with no second factor and no failures."""
    conn.execute(
        insert(users).values(
            id=user_id,
            org_id=org_id,
            username=username,
            display_name=display_name,
            role=role,
            password_hash=password_hash,
            totp_secret=None,
            failed_logins=0,
            locked_until=None,
            active=True,
            created_at=created_at,
        )
    )


# ---- passwords --------------------------------------------------------------------------------


def mark_one_time_password(conn: Connection, user_id: str, at: datetime) -> None:
    """The account's password is a one-time password, set at ``at``."""
    conn.execute(update(users).where(users.c.id == user_id).values(password_reset_at=at))


def set_one_time_password(
    conn: Connection, user_id: str, password_hash: str, at: datetime
) -> None:
    """A one-time password set by an administrator at ``at``; failures and lock cleared."""
    conn.execute(update(users).where(users.c.id == user_id).values(
        password_hash=password_hash, password_reset_at=at, failed_logins=0,
        locked_until=None))


def replace_password(conn: Connection, user_id: str, password_hash: str) -> None:
    """The person's own password (no longer a one-time one)."""
    conn.execute(update(users).where(users.c.id == user_id).values(
        password_hash=password_hash, password_reset_at=None))


# ---- code failures and the lock ---------------------------------------------------------------


def set_code_failures(
    conn: Connection, user_id: str, failures: int, locked_until: datetime | None
) -> None:
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(failed_logins=failures, locked_until=locked_until)
    )


def clear_code_failures(conn: Connection, user_id: str) -> None:
    conn.execute(
        update(users).where(users.c.id == user_id).values(failed_logins=0, locked_until=None)
    )


# ---- the second factor's secret ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredTotpSecret:
    user_id: str
    stored: bytes


def stored_totp_secrets(conn: Connection) -> list[StoredTotpSecret]:
    """Every account's stored TOTP secret (sealed or, from before sealing, clear)."""
    rows = conn.execute(select(users.c.id, users.c.totp_secret).where(
        users.c.totp_secret.is_not(None))).all()
    return [StoredTotpSecret(row.id, bytes(row.totp_secret)) for row in rows]


def set_totp_secret(conn: Connection, user_id: str, sealed: bytes) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(totp_secret=sealed))


def store_first_totp_secret(conn: Connection, user_id: str, sealed: bytes) -> bool:
    """Store the account's secret if it has none yet (atomically); True if stored."""
    stored = conn.execute(
        update(users)
        .where(users.c.id == user_id, users.c.totp_secret.is_(None))
        .values(totp_secret=sealed)
        .returning(users.c.id)
    ).first()
    return stored is not None


def remove_second_factor(conn: Connection, user_id: str) -> None:
    """The account's secret gone, with its code failures and lock."""
    conn.execute(update(users).where(users.c.id == user_id).values(
        totp_secret=None, failed_logins=0, locked_until=None))


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
