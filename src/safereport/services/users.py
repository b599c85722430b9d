"""Organisations and staff accounts."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select

from safereport.domain.case import new_id
from safereport.domain.vocabulary import ActorRole, OrgKind
from safereport.errors import InvalidInput
from safereport.services.instance import Instance
from safereport.store.core import organisations, users

__all__ = ["add_org", "add_user", "find_org", "list_orgs"]


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
