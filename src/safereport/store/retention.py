"""What the retention schedule reads and writes (services/retention.py): the cases each kind
of rule selects, and the notices shown at her door (``retention_notices``, store/jobs.py).

Every moment handed back is timezone-aware (SQLite gives naive ones; everything is UTC).
Query functions never commit; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from safereport.domain.case import CaseStatus
from safereport.store.core import cases, notes, organisations
from safereport.store.jobs import retention_notices
from safereport.store.staff import case_closures
from safereport.store.times import aware as _aware

__all__ = [
    "Candidate",
    "HeldSince",
    "RetentionNoticeRow",
    "ShredTarget",
    "closed_candidates",
    "drop_notices",
    "due_for_shredding",
    "held_candidates",
    "inactive_candidates",
    "retention_notice_rows",
    "shred_on_of",
    "write_notice",
]

#: A query of ``(case_id, held_since)`` rows, one per case still held in quarantine.
HeldSince = Callable[[], Select[str, datetime]]




def _live() -> ColumnElement[bool]:
    """Cases retention may touch: not erased, no erasure of hers pending."""
    return and_(cases.c.erased_at.is_(None), cases.c.erasure_requested_at.is_(None))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A case a rule may select: its reference, its holder's kind, and when its count
    started."""

    case_id: str
    reference: str
    org_kind: str
    since: datetime


_BASE = (cases.c.id, cases.c.reference, organisations.c.kind)


def _joined() -> Any:
    return cases.join(organisations, organisations.c.id == cases.c.org_id)


def closed_candidates(conn: Connection, latest: datetime) -> list[Candidate]:
    """Live closed cases whose count (their last closure, else their last change) started by
    ``latest``."""
    closed = (select(case_closures.c.case_id, func.max(case_closures.c.closed_at).label("at"))
              .group_by(case_closures.c.case_id).subquery())
    since = func.coalesce(closed.c.at, cases.c.updated_at)
    query = (select(*_BASE, since)
             .select_from(_joined().outerjoin(closed, closed.c.case_id == cases.c.id))
             .where(and_(_live(), cases.c.status == CaseStatus.CLOSED.value, since <= latest)))
    return [Candidate(str(r[0]), str(r[1]), str(r[2]), _aware(r[3]))
            for r in conn.execute(query)]


def inactive_candidates(conn: Connection, status: str, latest: datetime) -> list[Candidate]:
    """Live cases of ``status`` last changed, and last written to, by ``latest``; the count
    starts at the later of the two."""
    last_note = (select(notes.c.case_id, func.max(notes.c.created_at).label("at"))
                 .group_by(notes.c.case_id).subquery())
    query = (select(*_BASE, cases.c.updated_at, last_note.c.at)
             .select_from(_joined().outerjoin(last_note, last_note.c.case_id == cases.c.id))
             .where(and_(_live(), cases.c.status == status,
                         cases.c.updated_at <= latest,
                         or_(last_note.c.at.is_(None), last_note.c.at <= latest))))
    return [Candidate(str(r[0]), str(r[1]), str(r[2]),
                      max(_aware(r[3]), _aware(r[4])) if r[4] is not None else _aware(r[3]))
            for r in conn.execute(query)]


def held_candidates(conn: Connection, held_since: HeldSince,
                    latest: datetime) -> list[Candidate]:
    """Live cases held in quarantine (``held_since``) since ``latest`` or before."""
    held = held_since().subquery()
    key, since_column = list(held.c)[:2]
    query = (select(*_BASE, since_column).select_from(_joined().join(held, key == cases.c.id))
             .where(and_(_live(), since_column <= latest)))
    return [Candidate(str(r[0]), str(r[1]), str(r[2]), _aware(r[3]))
            for r in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class RetentionNoticeRow:
    """A notice given: the case, under which rule, when she was told, the day it goes."""

    case_id: str
    rule: str
    noticed_at: datetime
    shred_on: datetime


def retention_notice_rows(conn: Connection) -> list[RetentionNoticeRow]:
    """Every retention notice given and not withdrawn."""
    rows = conn.execute(select(retention_notices.c.case_id, retention_notices.c.rule,
                               retention_notices.c.noticed_at, retention_notices.c.shred_on))
    return [RetentionNoticeRow(str(r[0]), str(r[1]), _aware(r[2]), _aware(r[3])) for r in rows]


def drop_notices(conn: Connection, case_ids: Iterable[str]) -> None:
    """Withdraw the notices of these cases."""
    conn.execute(delete(retention_notices)
                 .where(retention_notices.c.case_id.in_(list(case_ids))))


def write_notice(conn: Connection, *, case_id: str, rule: str, noticed_at: datetime,
                 shred_on: datetime) -> None:
    """Give (or change) the case's notice; another runner writing it at once is no error."""
    upsert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert
    statement = upsert(retention_notices).values(case_id=case_id, rule=rule,
                                                 noticed_at=noticed_at, shred_on=shred_on)
    conn.execute(statement.on_conflict_do_update(
        index_elements=[retention_notices.c.case_id],
        set_={"rule": statement.excluded.rule, "noticed_at": statement.excluded.noticed_at,
              "shred_on": statement.excluded.shred_on}))


@dataclass(frozen=True, slots=True)
class ShredTarget:
    """A case due to be shredded: its holder, and her subject row if she has one."""

    org_id: str
    subject_id: str | None


def due_for_shredding(conn: Connection, case_id: str, now: datetime) -> ShredTarget | None:
    """The case, if it is live and its notice says it goes by ``now``; on PostgreSQL its row
    is locked, so another runner waits here, then finds it gone. None otherwise."""
    query = select(cases.c.org_id, cases.c.subject_id).where(and_(
        cases.c.id == case_id, _live(),
        cases.c.id.in_(select(retention_notices.c.case_id)
                       .where(retention_notices.c.shred_on <= now))))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return None
    return ShredTarget(str(row.org_id),
                       str(row.subject_id) if row.subject_id is not None else None)


def shred_on_of(conn: Connection, case_id: str) -> datetime | None:
    """The day the case's notice says it goes, if she has been told."""
    moment = conn.execute(select(retention_notices.c.shred_on)
                          .where(retention_notices.c.case_id == case_id)).scalar()
    return _aware(moment) if moment is not None else None
