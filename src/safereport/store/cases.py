"""Creating a case: the one place that writes a new case's rows (issue 12).

Every door a case comes in by writes the same rows in the same way: her own report (intake),
a report filed on her behalf (third-party filing), a disclosure taken in by the receiving
service, a transfer, and the synthetic generator. :func:`insert_case` writes the subject (when
she has one), the case with an unused reference, its report, and the consents given with it;
:func:`remove_case` takes a case that was refused before it held anything back out again.

What is sealed (the fields) is written by the vault, through the road, in the same
transaction; this module holds no case content.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from safereport.domain.case import new_id, new_reference
from safereport.store.core import cases, consents, organisations, reports, subjects

__all__ = [
    "CaseFactsRow",
    "CaseHolderRow",
    "CaseLanguageRow",
    "CaseOrgRow",
    "NewCase",
    "NewConsent",
    "case_facts",
    "case_holder",
    "case_ids_of_org",
    "case_language",
    "case_org",
    "case_org_id",
    "first_org_of_kind",
    "insert_case",
    "insert_cases",
    "references_of",
    "remove_case",
    "touch_case",
    "unused_reference",
]


@dataclass(frozen=True, slots=True)
class NewConsent:
    """A consent given with the report: through her own door (``source`` ``subject``), or
    recorded by a staff member on her behalf (``staff``, counting once a colleague confirms)."""

    recipient: str
    purpose: str
    source: str
    recorded_by: str | None = None
    review_on: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewCase:
    """What a new case is, before anything of it is sealed."""

    id: str
    org_id: str
    subject_role: str
    crime_type: str
    status: str
    intake: str
    language: str
    created_at: datetime
    #: Her pseudonymous subject row, when she reported herself (none for a filing on her
    #: behalf or a disclosure taken in: she claims the case later, if ever).
    subject_id: str | None = None
    #: Her codename's Argon2id lookup id, when she chose a codename.
    subject_lookup_id: str | None = None
    assigned_to: str | None = None
    #: The staff member who filed the report (none when she sent it herself).
    filed_by: str | None = None
    consents: Sequence[NewConsent] = ()
    #: A reference chosen by the caller (the synthetic generator); otherwise an unused one.
    reference: str | None = None
    #: Last worked on (the synthetic generator's cases were reported in the past but are
    #: being worked on now); otherwise when it was created.
    updated_at: datetime | None = None


def unused_reference(conn: Connection) -> str:
    """A case reference no case has yet."""
    while True:
        reference = new_reference()
        taken = conn.execute(select(cases.c.id).where(cases.c.reference == reference)).first()
        if taken is None:
            return reference


def insert_case(conn: Connection, new: NewCase) -> str:
    """Write the rows of one new case in the caller's transaction; returns its reference."""
    reference = new.reference or unused_reference(conn)
    insert_cases(conn, [_with_reference(new, reference)])
    return reference


def insert_cases(conn: Connection, batch: Sequence[NewCase]) -> None:
    """Write many new cases at once (one statement per table), each with its reference set."""
    if not batch:
        return
    subject_rows = [
        {"id": new.subject_id, "lookup_id": new.subject_lookup_id, "created_at": new.created_at}
        for new in batch if new.subject_id is not None
    ]
    case_rows = []
    for new in batch:
        if new.reference is None:
            raise ValueError("insert_cases needs each case's reference")
        case_rows.append({
            "id": new.id, "reference": new.reference, "org_id": new.org_id,
            "subject_id": new.subject_id, "subject_role": new.subject_role,
            "crime_type": new.crime_type, "status": new.status, "intake": new.intake,
            "language": new.language, "assigned_to": new.assigned_to,
            "claim_code_hash": None, "erasure_requested_at": None, "erased_at": None,
            "created_at": new.created_at, "updated_at": new.updated_at or new.created_at,
        })
    report_rows = [
        {"id": new_id(), "case_id": new.id, "submitted_at": new.created_at,
         "filed_by": new.filed_by}
        for new in batch
    ]
    consent_rows = [
        {"id": new_id(), "case_id": new.id, "recipient": c.recipient, "purpose": c.purpose,
         "given_at": new.created_at, "withdrawn_at": None, "source": c.source,
         "recorded_by": c.recorded_by, "confirmed_by": None, "confirmed_at": None,
         "review_on": c.review_on}
        for new in batch for c in new.consents
    ]
    if subject_rows:
        conn.execute(insert(subjects), subject_rows)
    conn.execute(insert(cases), case_rows)
    conn.execute(insert(reports), report_rows)
    if consent_rows:
        conn.execute(insert(consents), consent_rows)


def remove_case(conn: Connection, case_id: str) -> None:
    """Take back out a case refused before anything of it was sealed (nothing but the denial
    is kept)."""
    conn.execute(delete(consents).where(consents.c.case_id == case_id))
    conn.execute(delete(reports).where(reports.c.case_id == case_id))
    conn.execute(delete(cases).where(cases.c.id == case_id))


def _with_reference(new: NewCase, reference: str) -> NewCase:
    from dataclasses import replace

    return replace(new, reference=reference)


@dataclass(frozen=True, slots=True)
class CaseFactsRow:
    """What the road needs to decide about a case: its organisation and that organisation's
    kind, who she is in it, the kind of crime, and whether it was erased."""

    org_id: str
    org_kind: str
    subject_role: str
    crime_type: str
    erased: bool


#: Built once: every read of a case asks for these facts (issue 13).
_CASE_FACTS = (
    select(
        cases.c.org_id,
        organisations.c.kind,
        cases.c.subject_role,
        cases.c.crime_type,
        cases.c.erased_at,
    )
    .join(organisations, organisations.c.id == cases.c.org_id)
    .where(cases.c.id == bindparam("case_id"))
)


def case_facts(conn: Connection, case_id: str) -> CaseFactsRow | None:
    """The facts of one case the guard weighs; none when there is no such case."""
    row = conn.execute(_CASE_FACTS, {"case_id": case_id}).first()
    if row is None:
        return None
    return CaseFactsRow(
        org_id=row.org_id,
        org_kind=row.kind,
        subject_role=row.subject_role,
        crime_type=row.crime_type,
        erased=row.erased_at is not None,
    )


def case_ids_of_org(conn: Connection, org_id: str, limit: int) -> list[str]:
    """The ids of an organisation's first ``limit`` cases, oldest first."""
    query = select(cases.c.id).where(cases.c.org_id == org_id).order_by(cases.c.created_at)
    return [str(case_id) for case_id in conn.execute(query.limit(limit)).scalars()]


@dataclass(frozen=True, slots=True)
class CaseLanguageRow:
    """The language she reported in (none if not recorded), and whether the case was erased."""

    language: str | None
    erased: bool


def case_language(conn: Connection, case_id: str) -> CaseLanguageRow | None:
    """The case's language and whether it was erased; none when there is no such case."""
    row = conn.execute(select(cases.c.language, cases.c.erased_at)
                       .where(cases.c.id == case_id)).first()
    if row is None:
        return None
    return CaseLanguageRow(language=row.language, erased=row.erased_at is not None)


@dataclass(frozen=True, slots=True)
class CaseOrgRow:
    """The organisation that holds a case: its id and name."""

    id: str
    name: str


def case_org(conn: Connection, case_id: str) -> CaseOrgRow | None:
    """The organisation holding the case; none when there is no such case."""
    row = conn.execute(select(organisations.c.id, organisations.c.name)
                       .join(cases, cases.c.org_id == organisations.c.id)
                       .where(cases.c.id == case_id)).first()
    return CaseOrgRow(id=row.id, name=row.name) if row is not None else None


@dataclass(frozen=True, slots=True)
class CaseHolderRow:
    """The organisation holding a case, and whether the case was erased."""

    org_id: str
    erased: bool


def case_holder(conn: Connection, case_id: str) -> CaseHolderRow | None:
    """Who holds the case and whether it was erased; none when there is no such case."""
    row = conn.execute(
        select(cases.c.org_id, cases.c.erased_at).where(cases.c.id == case_id)
    ).first()
    return CaseHolderRow(str(row.org_id), row.erased_at is not None) if row is not None else None


def references_of(conn: Connection, case_ids: Iterable[str]) -> list[str]:
    """The references of these cases (those that exist), in no particular order."""
    query = select(cases.c.reference).where(cases.c.id.in_(list(case_ids)))
    return [str(reference) for reference in conn.execute(query).scalars()]


def touch_case(conn: Connection, case_id: str, moment: datetime) -> None:
    """Mark the case as last worked on at ``moment``."""
    conn.execute(update(cases).where(cases.c.id == case_id).values(updated_at=moment))
def first_org_of_kind(conn: Connection, kind: str, wanted: str | None = None) -> str | None:
    """The id of the oldest organisation of ``kind`` (the one with id or name ``wanted``,
    when given); None if there is none."""
    query = select(organisations.c.id).where(organisations.c.kind == kind)
    if wanted:
        query = query.where((organisations.c.id == wanted) | (organisations.c.name == wanted))
    org_id = conn.execute(query.order_by(organisations.c.created_at).limit(1)).scalar()
    return str(org_id) if org_id is not None else None


def case_org_id(conn: Connection, case_id: str) -> str:
    """The id of the organisation holding the case (which must exist)."""
    return str(conn.execute(select(cases.c.org_id).where(cases.c.id == case_id)).scalar_one())
