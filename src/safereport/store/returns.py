"""What a funders' return counts (services/returns.py): routing facts an organisation keeps in
clear about its cases, read as typed rows. Never case content, never a name.

Erased cases are left out everywhere (she asked for her data to go); cases held in quarantine
as suspected spam are left out of the new and the open cases (they are no case).
Query functions never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, func, select

from safereport.store.core import cases
from safereport.store.quarantine import held_case_ids
from safereport.store.staff import (
    case_closures,
    case_status_changes,
    disclosure_packages,
    disclosure_requests,
    outcome_scores,
)

__all__ = [
    "CaseNow",
    "Closure",
    "NewCaseFact",
    "ScoreFact",
    "SentPackage",
    "StatusChange",
    "cases_now",
    "last_closures",
    "new_cases",
    "packages_sent",
    "scores",
    "status_changes",
]


@dataclass(frozen=True, slots=True)
class NewCaseFact:
    """A case that came in: when, its crime type, and how it came in (``intake``)."""

    created_at: datetime
    crime_type: str
    intake: str


def new_cases(conn: Connection, org_id: str, start: datetime, end: datetime) -> list[NewCaseFact]:
    """The organisation's cases created from ``start`` to before ``end`` (not erased, not
    held in quarantine)."""
    rows = conn.execute(select(cases.c.created_at, cases.c.crime_type, cases.c.intake)
                        .where(and_(cases.c.org_id == org_id,
                                    cases.c.erased_at.is_(None),
                                    cases.c.id.not_in(held_case_ids()),
                                    cases.c.created_at >= start,
                                    cases.c.created_at < end)))
    return [NewCaseFact(r.created_at, r.crime_type, r.intake) for r in rows]


@dataclass(frozen=True, slots=True)
class Closure:
    """A case's last closure: why, and when."""

    reason: str
    closed_at: datetime


def last_closures(conn: Connection, org_id: str, start: datetime,
                  end: datetime) -> list[Closure]:
    """The last closure of each of the organisation's cases (not erased), when it falls from
    ``start`` to before ``end``."""
    latest = (select(case_closures.c.case_id, func.max(case_closures.c.closed_at)
                     .label("closed_at")).group_by(case_closures.c.case_id).subquery())
    rows = conn.execute(
        select(case_closures.c.reason, case_closures.c.closed_at)
        .join(latest, and_(latest.c.case_id == case_closures.c.case_id,
                           latest.c.closed_at == case_closures.c.closed_at))
        .join(cases, cases.c.id == case_closures.c.case_id)
        .where(and_(cases.c.org_id == org_id, cases.c.erased_at.is_(None),
                    case_closures.c.closed_at >= start, case_closures.c.closed_at < end))
    )
    return [Closure(r.reason, r.closed_at) for r in rows]


@dataclass(frozen=True, slots=True)
class SentPackage:
    """A referral or disclosure released: to what kind of recipient, and when."""

    recipient: str
    created_at: datetime


def packages_sent(conn: Connection, org_id: str, start: datetime,
                  end: datetime) -> list[SentPackage]:
    """The packages the organisation released from ``start`` to before ``end``."""
    rows = conn.execute(
        select(disclosure_requests.c.recipient, disclosure_packages.c.created_at)
        .join(disclosure_packages,
              disclosure_packages.c.request_id == disclosure_requests.c.id)
        .where(and_(disclosure_requests.c.holder_org_id == org_id,
                    disclosure_packages.c.created_at >= start,
                    disclosure_packages.c.created_at < end))
    )
    return [SentPackage(r.recipient, r.created_at) for r in rows]


@dataclass(frozen=True, slots=True)
class CaseNow:
    """A case's id, when it came in, and its status now."""

    id: str
    created_at: datetime
    status: str


def cases_now(conn: Connection, org_id: str) -> list[CaseNow]:
    """Every case of the organisation (not erased, not held in quarantine) as it is now."""
    rows = conn.execute(select(cases.c.id, cases.c.created_at, cases.c.status)
                        .where(and_(cases.c.org_id == org_id,
                                    cases.c.erased_at.is_(None),
                                    cases.c.id.not_in(held_case_ids())))).all()
    return [CaseNow(r.id, r.created_at, r.status) for r in rows]


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One change of a case's status: from what, to what, and when."""

    case_id: str
    from_status: str
    to_status: str
    changed_at: datetime


def status_changes(conn: Connection, org_id: str) -> list[StatusChange]:
    """Every status change of the organisation's cases, oldest first."""
    rows = conn.execute(
        select(case_status_changes.c.case_id, case_status_changes.c.from_status,
               case_status_changes.c.to_status, case_status_changes.c.changed_at)
        .join(cases, cases.c.id == case_status_changes.c.case_id)
        .where(cases.c.org_id == org_id)
        .order_by(case_status_changes.c.changed_at, case_status_changes.c.id)
    )
    return [StatusChange(r.case_id, r.from_status, r.to_status, r.changed_at) for r in rows]


@dataclass(frozen=True, slots=True)
class ScoreFact:
    """One outcome score of a case: at which stage (``entry`` or ``exit``), on which measure,
    the score, and when it was recorded."""

    case_id: str
    stage: str
    measure: str
    score: int
    recorded_at: datetime


def scores(conn: Connection, org_id: str) -> list[ScoreFact]:
    """Every outcome score of the organisation's cases (not erased)."""
    rows = conn.execute(
        select(outcome_scores.c.case_id, outcome_scores.c.stage, outcome_scores.c.measure,
               outcome_scores.c.score, outcome_scores.c.recorded_at)
        .join(cases, cases.c.id == outcome_scores.c.case_id)
        .where(and_(cases.c.org_id == org_id, cases.c.erased_at.is_(None)))
    )
    return [ScoreFact(r.case_id, r.stage, r.measure, int(r.score), r.recorded_at) for r in rows]
