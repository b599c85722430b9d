"""Organisations: typed rows and the one write that adds one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

from safereport.store.core import organisations

__all__ = ["OrgRow", "add_org_row", "org_by_name", "org_kind", "orgs_by_name"]


@dataclass(frozen=True, slots=True)
class OrgRow:
    id: str
    kind: str
    name: str


def org_by_name(conn: Connection, name: str) -> OrgRow | None:
    row = conn.execute(
        select(organisations.c.id, organisations.c.kind).where(organisations.c.name == name)
    ).first()
    return OrgRow(row.id, row.kind, name) if row is not None else None


def org_kind(conn: Connection, org_id: str) -> str | None:
    """The kind of organisation ``org_id``, or None if there is none."""
    row = conn.execute(select(organisations.c.kind).where(organisations.c.id == org_id)).first()
    return str(row.kind) if row is not None else None


def add_org_row(conn: Connection, *, org_id: str, name: str, kind: str,
                created_at: datetime) -> None:
    conn.execute(
        insert(organisations).values(id=org_id, name=name, kind=kind, created_at=created_at)
    )


def orgs_by_name(conn: Connection) -> list[OrgRow]:
    """Every organisation, by name."""
    rows = conn.execute(
        select(organisations.c.id, organisations.c.kind, organisations.c.name).order_by(
            organisations.c.name
        )
    ).all()
    return [OrgRow(row.id, row.kind, row.name) for row in rows]
