"""Her door: the case her codename opens, and the claim code that gives a case a door.

A subject row is her pseudonymous door (a codename's Argon2id lookup id, never a name); a case
filed on her behalf has none until she claims it with the one-time code staff handed her.
These are typed query functions; they never commit (the services own the transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, select, update

from safereport.domain.case import IntakeKind
from safereport.store.core import cases, subjects

__all__ = [
    "ClaimableCase",
    "DoorCase",
    "HerCase",
    "case_for_claim_code",
    "case_subject_id",
    "claim_state",
    "door_opens",
    "give_case_a_door",
    "her_case",
    "newest_case_behind",
    "set_claim_code",
]


@dataclass(frozen=True, slots=True)
class DoorCase:
    """The case a door opens: the subject and her case."""

    subject_id: str
    case_id: str


@dataclass(frozen=True, slots=True)
class HerCase:
    """What her own pages read of her case: routing facts and dates, no sealed content."""

    reference: str
    status: str
    crime_type: str
    created_at: datetime
    erasure_requested_at: datetime | None
    erased_at: datetime | None


@dataclass(frozen=True, slots=True)
class ClaimableCase:
    """A case filed on her behalf that a claim code opens."""

    id: str
    reference: str


def newest_case_behind(conn: Connection, lookup_id: str) -> DoorCase | None:
    """The newest case of the subject whose codename has this lookup id, if any."""
    row = conn.execute(
        select(cases.c.id, subjects.c.id.label("subject_id"))
        .join(subjects, subjects.c.id == cases.c.subject_id)
        .where(subjects.c.lookup_id == lookup_id)
        .order_by(cases.c.created_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return DoorCase(subject_id=str(row.subject_id), case_id=str(row.id))


def door_opens(conn: Connection, case_id: str, subject_id: str) -> bool:
    """Whether the case is this subject's, not erased, and her door (lookup id) still there."""
    row = conn.execute(
        select(cases.c.erased_at, subjects.c.lookup_id)
        .join(subjects, subjects.c.id == cases.c.subject_id)
        .where(and_(cases.c.id == case_id, cases.c.subject_id == subject_id))
    ).first()
    return row is not None and row.erased_at is None and row.lookup_id is not None


def her_case(conn: Connection, case_id: str, subject_id: str) -> HerCase | None:
    """The case, when it is this subject's (None when it is not, or there is no such case)."""
    row = conn.execute(
        select(cases).where(and_(cases.c.id == case_id, cases.c.subject_id == subject_id))
    ).first()
    if row is None:
        return None
    return HerCase(
        reference=str(row.reference),
        status=str(row.status),
        crime_type=str(row.crime_type),
        created_at=row.created_at,
        erasure_requested_at=row.erasure_requested_at,
        erased_at=row.erased_at,
    )


def case_subject_id(conn: Connection, case_id: str) -> str | None:
    """The subject of a case (None when it has none); raises if there is no such case."""
    subject_id = conn.execute(select(cases.c.subject_id)
                              .where(cases.c.id == case_id)).scalar_one()
    return None if subject_id is None else str(subject_id)


def set_claim_code(conn: Connection, case_id: str, code_hash: str) -> bool:
    """Give an unclaimed, unerased case filed on her behalf this claim code's hash.

    Returns whether it was given: a case claimed (or erased) never gets a new code.
    """
    result = conn.execute(
        update(cases)
        .where(and_(cases.c.id == case_id, cases.c.intake == IntakeKind.THIRD_PARTY.value,
                    cases.c.subject_id.is_(None), cases.c.erased_at.is_(None)))
        .values(claim_code_hash=code_hash)
    )
    return result.rowcount == 1


def claim_state(conn: Connection, case_id: str) -> str:
    """Where a case stands for claiming: ``missing``, ``erased``, ``not_third_party``,
    ``claimed`` or ``open``."""
    row = conn.execute(
        select(cases.c.intake, cases.c.subject_id, cases.c.erased_at).where(cases.c.id == case_id)
    ).first()
    if row is None:
        return "missing"
    if row.erased_at is not None:
        return "erased"
    if row.intake != IntakeKind.THIRD_PARTY.value:
        return "not_third_party"
    return "claimed" if row.subject_id is not None else "open"


def case_for_claim_code(conn: Connection, code_hash: str) -> ClaimableCase | None:
    """The unerased case filed on her behalf that holds this claim code's hash, if any."""
    row = conn.execute(
        select(cases.c.id, cases.c.reference).where(
            and_(
                cases.c.claim_code_hash == code_hash,
                cases.c.intake == IntakeKind.THIRD_PARTY.value,
                cases.c.erased_at.is_(None),
            )
        )
    ).first()
    return None if row is None else ClaimableCase(id=str(row.id), reference=str(row.reference))


def give_case_a_door(
    conn: Connection, case_id: str, subject_id: str, lookup_id: str, now: datetime
) -> None:
    """Make her subject row (her codename's lookup id) and make the case hers; the claim code
    is spent."""
    conn.execute(subjects.insert().values(id=subject_id, lookup_id=lookup_id, created_at=now))
    conn.execute(
        update(cases).where(cases.c.id == case_id).values(
            subject_id=subject_id, claim_code_hash=None, updated_at=now,
        )
    )
