"""How soon a support service answers her: each organisation's reply time (migration 0020).

``organisations.reply_working_days`` is set by the service's operators; her pages read it by
the reference on her card or through her return session (routing facts only). Query
functions never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, select, update

from safereport.store.core import cases, organisations

__all__ = [
    "CaseReplyTime",
    "OrganisationRow",
    "organisation_named",
    "reply_time_for_her_case",
    "reply_time_for_reference",
    "set_reply_working_days",
]


@dataclass(frozen=True, slots=True)
class OrganisationRow:
    id: str
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class CaseReplyTime:
    """How a case came in, and its holder's reply time in working days (None: unset)."""

    intake: str
    working_days: int | None


def organisation_named(conn: Connection, org: str) -> OrganisationRow | None:
    """The organisation with this id or name, if any."""
    row = conn.execute(
        select(organisations.c.id, organisations.c.name, organisations.c.kind).where(
            (organisations.c.id == org) | (organisations.c.name == org))
    ).first()
    return None if row is None else OrganisationRow(str(row.id), str(row.name), str(row.kind))


def set_reply_working_days(conn: Connection, org_id: str, working_days: int | None) -> None:
    conn.execute(update(organisations).where(organisations.c.id == org_id)
                 .values(reply_working_days=working_days))


def _reply_time(conn: Connection, where: Any) -> CaseReplyTime | None:
    row = conn.execute(
        select(cases.c.intake, organisations.c.reply_working_days)
        .join(organisations, organisations.c.id == cases.c.org_id)
        .where(where)
    ).first()
    if row is None:
        return None
    days = row.reply_working_days
    return CaseReplyTime(intake=str(row.intake),
                         working_days=int(days) if days is not None else None)


def reply_time_for_reference(conn: Connection, reference: str) -> CaseReplyTime | None:
    """For the case with this reference (None: no such case)."""
    return _reply_time(conn, cases.c.reference == reference)


def reply_time_for_her_case(
    conn: Connection, case_id: str, subject_id: str
) -> CaseReplyTime | None:
    """For her case (None unless the case is this subject's)."""
    return _reply_time(conn, and_(cases.c.id == case_id, cases.c.subject_id == subject_id))
