"""Organisations and staff accounts: add, list, disable, enable.

Disabling an account ends its sessions in the same transaction, and sign-in and every page
load already refuse an inactive account (services/auth.py), so a disabled person is out at
once. The ledger records decisions about case data only; these account changes are not in it
(docs/operations.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import Connection, insert, select

from safereport.domain.case import new_id
from safereport.domain.vocabulary import ActorRole, OrgKind
from safereport.errors import InvalidInput
from safereport.services.instance import Instance
from safereport.store.accounts import (
    AccountRow,
    account_by_username,
    accounts,
    active_count,
    end_sessions,
    set_active,
)
from safereport.store.core import organisations, users

__all__ = [
    "AccountChange",
    "AccountRow",
    "add_org",
    "add_user",
    "disable_user",
    "enable_user",
    "find_org",
    "list_orgs",
    "list_users",
]


def find_org(conn: Connection, name: str) -> tuple[str, OrgKind] | None:
    row = conn.execute(
        select(organisations.c.id, organisations.c.kind).where(organisations.c.name == name)
    ).first()
    return (row.id, OrgKind(row.kind)) if row else None


def add_org(conn: Connection, name: str, kind: OrgKind, *, org_id: str | None = None) -> str:
    """Create an organisation; InvalidInput if the name is taken."""
    if not name.strip():
        raise InvalidInput("an organisation needs a name")
    if find_org(conn, name) is not None:
        raise InvalidInput(f"an organisation called {name!r} exists already")
    oid = org_id or new_id()
    conn.execute(
        insert(organisations).values(
            id=oid, name=name, kind=kind.value, created_at=datetime.now(UTC)
        )
    )
    return oid


def add_user(
    instance: Instance,
    *,
    org_name: str,
    username: str,
    display_name: str,
    role: ActorRole,
    password: str,
) -> str:
    """Add a staff account to an existing organisation; returns the user id."""
    from safereport.services.auth import create_user

    if role is ActorRole.VICTIM:
        raise InvalidInput("victims have no accounts: they return with their codename")
    with instance.engine.begin() as conn:
        org = find_org(conn, org_name)
        if org is None:
            raise InvalidInput(f"no organisation called {org_name!r}")
        taken = conn.execute(select(users.c.id).where(users.c.username == username)).first()
        if taken is not None:
            raise InvalidInput(f"the username {username!r} is taken")
        return create_user(
            conn, org_id=org[0], username=username, display_name=display_name,
            role=role, password=password,
        )


def list_orgs(instance: Instance) -> list[tuple[str, str, str]]:
    """``(id, kind, name)`` of every organisation, by name."""
    with instance.engine.connect() as conn:
        rows = conn.execute(
            select(organisations.c.id, organisations.c.kind, organisations.c.name).order_by(
                organisations.c.name
            )
        ).all()
    return [(row.id, row.kind, row.name) for row in rows]


def list_users(instance: Instance) -> list[AccountRow]:
    """Every staff account with its organisation, state and live sessions, by username."""
    with instance.engine.connect() as conn:
        return accounts(conn)


class AccountChange(NamedTuple):
    username: str
    changed: bool  # False: it was already in that state
    sessions_ended: int


def _account(conn: Connection, username: str) -> AccountRow:
    row = account_by_username(conn, username)
    if row is None:
        raise InvalidInput(f"no staff account called {username!r}")
    return row


def disable_user(instance: Instance, username: str) -> AccountChange:
    """Make the account inactive and end its sessions; the last active admin stays."""
    with instance.engine.begin() as conn:
        row = _account(conn, username)
        if row.active and row.role == ActorRole.ADMIN and active_count(conn, row.role) == 1:
            raise InvalidInput(f"{username} is the last active admin account; enable another first")
        set_active(conn, row.id, False)
        ended = end_sessions(conn, row.id)
    return AccountChange(username, row.active, ended)


def enable_user(instance: Instance, username: str) -> AccountChange:
    """Make the account active again (its password and second factor are unchanged)."""
    with instance.engine.begin() as conn:
        row = _account(conn, username)
        set_active(conn, row.id, True)
    return AccountChange(username, not row.active, 0)
