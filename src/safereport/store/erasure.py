"""Erasing a case: her request and its cooling-off, and the rows that go when it is shredded.

Shredding destroys the case's data key in the vault (``store.vault``); the queries here mark
the case, delete what was sealed under it outside the vault (notes, attachments), destroy what
left it but was not taken in, and close her door. They never commit: the erase decision is
recorded in the same transaction by the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, and_, select, update

from safereport.domain.case import CaseStatus
from safereport.store.core import cases, notes, subjects
from safereport.store.evidence import evidence_files
from safereport.store.provenance import victim_requests
from safereport.store.staff import disclosure_packages, disclosure_requests

__all__ = [
    "DueErasure",
    "cancel_erasure_request",
    "close_door",
    "destroy_case_rows",
    "due_erasures",
    "mark_erasure_requested",
]


@dataclass(frozen=True, slots=True)
class DueErasure:
    """A case whose cooling-off period has passed, and the subject who asked."""

    case_id: str
    subject_id: str


def mark_erasure_requested(conn: Connection, case_id: str, now: datetime) -> None:
    """She asked for erasure at ``now``: the case waits out its cooling-off period."""
    conn.execute(
        update(cases).where(cases.c.id == case_id).values(
            erasure_requested_at=now, status=CaseStatus.ERASURE_PENDING.value, updated_at=now,
        )
    )


def cancel_erasure_request(conn: Connection, case_id: str, now: datetime) -> None:
    """She changed her mind: the case returns to work."""
    conn.execute(
        update(cases).where(cases.c.id == case_id).values(
            erasure_requested_at=None, status=CaseStatus.IN_PROGRESS.value, updated_at=now,
        )
    )


def due_erasures(conn: Connection, cutoff: datetime) -> list[DueErasure]:
    """Every unerased case whose erasure was asked for at or before ``cutoff``."""
    rows = conn.execute(
        select(cases.c.id, cases.c.subject_id).where(
            and_(
                cases.c.erasure_requested_at.is_not(None),
                cases.c.erasure_requested_at <= cutoff,
                cases.c.erased_at.is_(None),
            )
        )
    ).all()
    return [DueErasure(str(case_id), str(subject_id)) for case_id, subject_id in rows]


def destroy_case_rows(conn: Connection, case_id: str, now: datetime) -> None:
    """After its key is shredded: delete the case's notes and attachments, destroy what left
    it but was not taken in, and mark it erased."""
    conn.execute(notes.delete().where(notes.c.case_id == case_id))
    conn.execute(evidence_files.delete().where(evidence_files.c.case_id == case_id))
    _destroy_outgoing(conn, case_id)
    conn.execute(
        update(cases).where(cases.c.id == case_id).values(
            erased_at=now, status=CaseStatus.ERASED.value, updated_at=now,
        )
    )


def close_door(conn: Connection, subject_id: str) -> None:
    """Her codename now opens nothing: the door goes with the data."""
    conn.execute(update(subjects).where(subjects.c.id == subject_id).values(lookup_id=None))


def _destroy_outgoing(conn: Connection, case_id: str) -> None:
    """What left her case but was not yet taken in goes with it (security review, 6a).

    Packages are sealed to the recipient's key, not the case key, so shredding the case key
    leaves them readable: unaccepted ones are deleted (and can no longer be taken in);
    sealed justifications go; her standing requests end.
    """
    held = select(disclosure_requests.c.id).where(disclosure_requests.c.case_id == case_id)
    conn.execute(
        disclosure_packages.delete().where(
            and_(disclosure_packages.c.request_id.in_(held),
                 disclosure_packages.c.accepted_case_id.is_(None))
        )
    )
    conn.execute(update(disclosure_requests).where(disclosure_requests.c.case_id == case_id)
                 .values(justification_sealed=None))
    conn.execute(update(victim_requests).where(and_(victim_requests.c.case_id == case_id,
                                                    victim_requests.c.withdrawn_at.is_(None)))
                 .values(withdrawn_at=datetime.now(UTC)))
