"""Casework's queries (issue 12): the case list and search, the case page's rows, status,
assignment, notes, her safety plan, outcome scores, the MARAC meeting's actions and transfers.

Typed query functions over the tables of ``store.core`` and ``store.staff``; they never commit
(the services own the transaction and pass its connection). Sealed text (a note, an action)
comes back as the ciphertext the vault sealed: only the road opens it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Connection, Row, Table, and_, bindparam, delete, func, select, update

from safereport.domain.case import CaseStatus, new_id
from safereport.store.core import cases, consents, notes, organisations, users
from safereport.store.evidence import evidence_files
from safereport.store.holding import hold, holds_none
from safereport.store.provenance import victim_requests
from safereport.store.quarantine import held_case_ids
from safereport.store.staff import (
    case_closures,
    case_status_changes,
    case_transfers,
    disclosure_requests,
    marac_actions,
    outcome_scores,
    safety_plan_actions,
)
from safereport.store.times import aware as _aware

__all__ = [
    "ActionList",
    "CaseRow",
    "MaracActionRow",
    "MaracReferralRow",
    "NoteRow",
    "OpenTransfer",
    "SafetyActionRow",
    "SealedRow",
    "TransferRow",
    "assign_case",
    "case_holders",
    "case_ids_by_reference",
    "case_row",
    "display_name",
    "display_names",
    "hold_case_page",
    "insert_case_transfer",
    "insert_marac_action",
    "insert_note_row",
    "insert_safety_action",
    "is_held_by",
    "is_subjects_case",
    "is_transfer_request",
    "latest_closure_reason",
    "latest_note_times",
    "marac_action_rows",
    "marac_referral_rows",
    "mark_action_done",
    "mark_transfer_taken_in",
    "note_rows",
    "open_transfer",
    "org_case_rows",
    "org_cases_among",
    "org_cases_by_claim_code",
    "outcome_score_table",
    "record_status_change",
    "replace_outcome_scores",
    "request_holder_org",
    "safety_plan_rows",
    "touch_case",
    "transfer_rows",
]




def _aware_or_none(moment: datetime | None) -> datetime | None:
    return _aware(moment) if moment is not None else None


# ---- cases ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseRow:
    """A case's routing facts, as kept in clear (the words of its status, crime type, role
    and intake as stored; the service reads them as the domain's values)."""

    id: str
    reference: str
    org_id: str
    subject_id: str | None
    subject_role: str
    crime_type: str
    status: str
    intake: str
    assigned_to: str | None
    erased_at: datetime | None
    created_at: datetime
    updated_at: datetime


def _case(row: Row[Any]) -> CaseRow:
    return CaseRow(
        id=row.id, reference=row.reference, org_id=row.org_id, subject_id=row.subject_id,
        subject_role=row.subject_role, crime_type=row.crime_type, status=row.status,
        intake=row.intake, assigned_to=row.assigned_to, erased_at=row.erased_at,
        created_at=_aware(row.created_at), updated_at=_aware(row.updated_at),
    )


#: The case page reads these on every view: built once (see ``_NAMES`` below).
_CASE = select(cases).where(cases.c.id == bindparam("case_id"))
_DISPLAY_NAME = select(users.c.display_name).where(users.c.id == bindparam("user_id"))


#: The case's own tables whose rows a case page lists (store/holding.py).
_PAGE_LISTS = (
    notes, safety_plan_actions, marac_actions, outcome_scores, disclosure_requests,
    case_transfers, consents, victim_requests, evidence_files,
)  # fmt: skip


def hold_case_page(conn: Connection, case_id: str) -> frozenset[str]:
    """In ``conn``'s transaction, which of the lists a case page shows the case has none of:
    until that transaction ends, those lists are read without a statement (store/holding.py)."""
    return hold(conn, case_id, _PAGE_LISTS)


def case_row(conn: Connection, case_id: str) -> CaseRow | None:
    """The case with this id, erased or not, whoever holds it; None if there is none."""
    row = conn.execute(_CASE, {"case_id": case_id}).first()
    return _case(row) if row is not None else None


def org_case_rows(
    conn: Connection,
    org_id: str,
    *,
    status: str | None = None,
    crime_type: str | None = None,
    assigned_to: str | None = None,
    limit: int = 200,
) -> list[CaseRow]:
    """The organisation's cases not erased and not held in quarantine, last changed first,
    narrowed to a status, a crime type and a holder when given."""
    query = select(cases).where(
        and_(cases.c.org_id == org_id, cases.c.erased_at.is_(None),
             cases.c.id.not_in(held_case_ids()))
    )
    if status is not None:
        query = query.where(cases.c.status == status)
    if crime_type is not None:
        query = query.where(cases.c.crime_type == crime_type)
    if assigned_to is not None:
        query = query.where(cases.c.assigned_to == assigned_to)
    query = query.order_by(cases.c.updated_at.desc(), cases.c.id).limit(limit)
    return [_case(row) for row in conn.execute(query)]


def org_cases_among(conn: Connection, org_id: str, case_ids: Iterable[str]) -> list[CaseRow]:
    """Those of ``case_ids`` the organisation holds and that are not erased."""
    return [_case(row) for row in conn.execute(
        select(cases).where(
            and_(
                cases.c.id.in_(sorted(case_ids)),
                cases.c.org_id == org_id,
                cases.c.erased_at.is_(None),
            )
        )
    ).all()]


def org_cases_by_claim_code(conn: Connection, org_id: str, code_hash: str) -> list[CaseRow]:
    """The organisation's cases (not erased) whose unclaimed claim code has this hash."""
    return [_case(row) for row in conn.execute(select(cases).where(and_(
        cases.c.claim_code_hash == code_hash,
        cases.c.org_id == org_id, cases.c.erased_at.is_(None)))).all()]


def case_ids_by_reference(conn: Connection, reference: str) -> set[str]:
    """The ids of the cases with this reference (as kept: ``SR-XXXX-XXXX-XXXX``)."""
    return set(conn.execute(select(cases.c.id).where(cases.c.reference == reference)).scalars())


def is_held_by(conn: Connection, case_id: str, org_id: str) -> bool:
    """Whether the case exists, is the organisation's, and is not erased."""
    row = conn.execute(select(cases.c.org_id, cases.c.erased_at)
                       .where(cases.c.id == case_id)).first()
    return row is not None and row.org_id == org_id and row.erased_at is None


def is_subjects_case(conn: Connection, case_id: str, subject_id: str) -> bool:
    """Whether the case is this subject's own and is not erased."""
    row = conn.execute(select(cases.c.erased_at).where(and_(
        cases.c.id == case_id, cases.c.subject_id == subject_id))).first()
    return row is not None and row.erased_at is None


def touch_case(conn: Connection, case_id: str, now: datetime) -> None:
    """Say the case changed at ``now`` (the list shows the last change first)."""
    conn.execute(update(cases).where(cases.c.id == case_id).values(updated_at=now))


def assign_case(conn: Connection, case_id: str, assignee_id: str, now: datetime) -> None:
    """Give the case to ``assignee_id`` to hold."""
    conn.execute(update(cases).where(cases.c.id == case_id).values(
        assigned_to=assignee_id, updated_at=now))


def record_status_change(conn: Connection, case_id: str, current: CaseStatus,
                         target: CaseStatus, *, by: str | None, now: datetime,
                         closure_reason: str = "") -> None:
    """Set the case's status, keep the change in its history, and, when it is closed, why."""
    conn.execute(update(cases).where(cases.c.id == case_id)
                 .values(status=target.value, updated_at=now))
    conn.execute(case_status_changes.insert().values(
        id=new_id(), case_id=case_id, from_status=current.value, to_status=target.value,
        changed_by=by, changed_at=now))
    if target is CaseStatus.CLOSED:
        conn.execute(case_closures.insert().values(
            id=new_id(), case_id=case_id, reason=closure_reason, closed_by=by, closed_at=now))


def latest_closure_reason(conn: Connection, case_id: str) -> str | None:
    """The reason of the case's latest closing (None if it was never closed)."""
    reason = conn.execute(select(case_closures.c.reason).where(
        case_closures.c.case_id == case_id).order_by(
        case_closures.c.closed_at.desc()).limit(1)).scalar()
    return str(reason) if reason is not None else None


# ---- people ---------------------------------------------------------------------------------


def display_name(conn: Connection, user_id: str) -> str | None:
    """The display name of the staff member with this id (None if there is none)."""
    name = conn.execute(_DISPLAY_NAME, {"user_id": user_id}).scalar()
    return str(name) if name is not None else None


# The case page reads these on every view: their statements are built once, at import (with
# SQLAlchemy, building one costs several times what SQLite takes to run it).
_NAMES = select(users.c.id, users.c.display_name).where(
    users.c.id.in_(bindparam("ids", expanding=True)))

#: An organisation's people with their roles (an organisation has tens): the roles are chosen
#: here, not in an expanding IN, which SQLAlchemy renders afresh at every execution (the case
#: page's slowest read: 112 against about 40 microseconds, issue 13).
_HOLDERS = (
    select(users.c.id, users.c.display_name, users.c.role)
    .where(users.c.org_id == bindparam("org_id"))
    .order_by(users.c.display_name)
)


def display_names(conn: Connection, user_ids: Iterable[str | None]) -> dict[str, str]:
    """{id: display name} of these staff members (ids with no account are left out)."""
    wanted = sorted({uid for uid in user_ids if uid})
    if not wanted:
        return {}
    return {str(uid): str(name) for uid, name in conn.execute(_NAMES, {"ids": wanted}).all()}


def case_holders(conn: Connection, org_id: str, roles: Iterable[str]) -> list[tuple[str, str]]:
    """(id, display name) of the organisation's people in ``roles``, by name."""
    wanted = {str(role) for role in roles}
    rows = conn.execute(_HOLDERS, {"org_id": org_id}).all()
    return [(str(uid), str(name)) for uid, name, role in rows if role in wanted]


# ---- notes and messages ---------------------------------------------------------------------


class SealedRow(Protocol):
    """A row that holds sealed text under the case's key, opened by its own id's label."""

    @property
    def id(self) -> str: ...

    @property
    def sealed(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class NoteRow:
    """A note or message of a case, its text still sealed."""

    id: str
    author_kind: str
    #: The author's display name; None when no member of staff wrote it.
    author_name: str | None
    visible_to_subject: bool
    sealed: bytes
    created_at: datetime


_NOTES = (
    select(notes, users.c.display_name)
    .outerjoin(users, users.c.id == notes.c.author_id)
    .where(notes.c.case_id == bindparam("case_id"))
    .order_by(notes.c.created_at, notes.c.id)
)


def note_rows(conn: Connection, case_id: str) -> list[NoteRow]:
    """The case's notes and messages, oldest first."""
    if holds_none(conn, notes, case_id):
        return []
    rows = conn.execute(_NOTES, {"case_id": case_id}).all()
    return [NoteRow(id=row.id, author_kind=row.author_kind, author_name=row.display_name,
                    visible_to_subject=bool(row.visible_to_subject), sealed=bytes(row.sealed),
                    created_at=_aware(row.created_at)) for row in rows]


def latest_note_times(conn: Connection, case_ids: Iterable[str]) -> dict[tuple[str, str],
                                                                        datetime]:
    """{(case id, author kind): when the latest note of that kind was written} for the cases."""
    return {
        (row.case_id, row.author_kind): _aware(row.at)
        for row in conn.execute(
            select(notes.c.case_id, notes.c.author_kind, func.max(notes.c.created_at).label("at"))
            .where(notes.c.case_id.in_(list(case_ids)))
            .group_by(notes.c.case_id, notes.c.author_kind)
        )
    }


def insert_note_row(conn: Connection, note_id: str, case_id: str, sealed: bytes, *,
                    author_id: str | None, author_kind: str, visible_to_subject: bool,
                    now: datetime) -> None:
    """Store a note whose text the vault has sealed."""
    conn.execute(
        notes.insert().values(
            id=note_id, case_id=case_id, author_id=author_id, author_kind=author_kind,
            visible_to_subject=visible_to_subject, sealed=sealed, created_at=now,
        )
    )


# ---- her safety plan and the MARAC meeting's actions ----------------------------------------


class ActionList(StrEnum):
    """The lists of a case's actions with owners and due dates."""

    SAFETY_PLAN = "safety_plan"
    MARAC = "marac"


_ACTION_TABLES: dict[ActionList, Table] = {
    ActionList.SAFETY_PLAN: safety_plan_actions,
    ActionList.MARAC: marac_actions,
}


@dataclass(frozen=True, slots=True)
class SafetyActionRow:
    """An action of her safety plan, what is to be done still sealed."""

    id: str
    sealed: bytes
    owner_name: str
    due_on: datetime
    done_at: datetime | None


_SAFETY_PLAN = (
    select(safety_plan_actions, users.c.display_name)
    .join(users, users.c.id == safety_plan_actions.c.owner_id)
    .where(safety_plan_actions.c.case_id == bindparam("case_id"))
    .order_by(safety_plan_actions.c.due_on, safety_plan_actions.c.id)
)


def safety_plan_rows(conn: Connection, case_id: str) -> list[SafetyActionRow]:
    """The case's safety plan actions with their owners' names, due first."""
    if holds_none(conn, safety_plan_actions, case_id):
        return []
    rows = conn.execute(_SAFETY_PLAN, {"case_id": case_id}).all()
    return [SafetyActionRow(row.id, bytes(row.sealed), row.display_name, _aware(row.due_on),
                            _aware_or_none(row.done_at)) for row in rows]


def insert_safety_action(conn: Connection, action_id: str, case_id: str, sealed: bytes, *,
                         owner_id: str, due_on: datetime, created_by: str,
                         now: datetime) -> None:
    """Store an action of her safety plan whose text the vault has sealed."""
    conn.execute(safety_plan_actions.insert().values(
        id=action_id, case_id=case_id, sealed=sealed, owner_id=owner_id,
        due_on=due_on, done_at=None, created_by=created_by, created_at=now))


@dataclass(frozen=True, slots=True)
class MaracActionRow:
    """An action the MARAC meeting agreed, what is to be done still sealed."""

    id: str
    sealed: bytes
    agency: str
    due_on: datetime
    done_at: datetime | None
    request_id: str | None


_MARAC_ACTIONS = (
    select(marac_actions)
    .where(marac_actions.c.case_id == bindparam("case_id"))
    .order_by(marac_actions.c.due_on, marac_actions.c.id)
)


def marac_action_rows(conn: Connection, case_id: str) -> list[MaracActionRow]:
    """The case's MARAC actions, due first."""
    if holds_none(conn, marac_actions, case_id):
        return []
    rows = conn.execute(_MARAC_ACTIONS, {"case_id": case_id}).all()
    return [MaracActionRow(row.id, bytes(row.sealed), row.agency, _aware(row.due_on),
                           _aware_or_none(row.done_at), row.request_id) for row in rows]


def insert_marac_action(conn: Connection, action_id: str, case_id: str, sealed: bytes, *,
                        request_id: str | None, agency: str, due_on: datetime, created_by: str,
                        now: datetime) -> None:
    """Store a MARAC action whose text the vault has sealed."""
    conn.execute(marac_actions.insert().values(
        id=action_id, case_id=case_id, request_id=request_id, sealed=sealed,
        agency=agency, due_on=due_on, done_at=None, created_by=created_by, created_at=now))


def mark_action_done(conn: Connection, actions: ActionList, action_id: str, case_id: str,
                     now: datetime) -> bool:
    """Mark the open action of the case done; False if the case has no such open action."""
    table = _ACTION_TABLES[actions]
    changed = conn.execute(update(table).where(and_(
        table.c.id == action_id, table.c.case_id == case_id,
        table.c.done_at.is_(None))).values(done_at=now))
    return changed.rowcount == 1


# ---- outcome scores -------------------------------------------------------------------------


def replace_outcome_scores(conn: Connection, case_id: str, stage: str,
                           scores: Mapping[str, int], *, by: str, now: datetime) -> None:
    """Keep these scores as the case's at ``stage`` (any earlier ones of the same measures go)."""
    table = outcome_scores
    conn.execute(delete(table).where(and_(table.c.case_id == case_id,
                                          table.c.stage == stage,
                                          table.c.measure.in_(sorted(scores)))))
    for code, score in sorted(scores.items()):
        conn.execute(table.insert().values(
            id=new_id(), case_id=case_id, stage=stage, measure=code, score=score,
            recorded_by=by, recorded_at=now))


_OUTCOME_SCORES = select(
    outcome_scores.c.stage, outcome_scores.c.measure, outcome_scores.c.score
).where(outcome_scores.c.case_id == bindparam("case_id"))


def outcome_score_table(conn: Connection, case_id: str) -> dict[str, dict[str, int]]:
    """{stage: {measure: score}} of the case."""
    found: dict[str, dict[str, int]] = {}
    if holds_none(conn, outcome_scores, case_id):
        return found
    for row in conn.execute(_OUTCOME_SCORES, {"case_id": case_id}):
        found.setdefault(row.stage, {})[row.measure] = int(row.score)
    return found


# ---- MARAC referrals and transfers ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MaracReferralRow:
    """A disclosure request of the case to the MARAC: its id, status and when it was made."""

    id: str
    status: str
    created_at: datetime


_REQUESTS_TO = (
    select(disclosure_requests.c.id, disclosure_requests.c.status,
           disclosure_requests.c.created_at)
    .where(and_(disclosure_requests.c.case_id == bindparam("case_id"),
                disclosure_requests.c.holder_org_id == bindparam("org_id"),
                disclosure_requests.c.recipient == bindparam("recipient")))
    .order_by(disclosure_requests.c.created_at.desc())
)


def marac_referral_rows(conn: Connection, case_id: str, holder_org_id: str,
                        recipient: str) -> list[MaracReferralRow]:
    """The organisation's disclosure requests of the case to ``recipient``, newest first."""
    if holds_none(conn, disclosure_requests, case_id):
        return []
    rows = conn.execute(_REQUESTS_TO, {"case_id": case_id, "org_id": holder_org_id,
                                       "recipient": recipient}).all()
    return [MaracReferralRow(r.id, r.status, _aware(r.created_at)) for r in rows]


def insert_case_transfer(conn: Connection, case_id: str, request_id: str, to_org_id: str, *,
                         requested_by: str, now: datetime) -> None:
    """Keep that the case goes to ``to_org_id`` through the disclosure request."""
    conn.execute(case_transfers.insert().values(
        id=new_id(), case_id=case_id, request_id=request_id, to_org_id=to_org_id,
        requested_by=requested_by, created_at=now))


@dataclass(frozen=True, slots=True)
class TransferRow:
    """A transfer of a case: where to, how far its request got, when it was taken in."""

    request_id: str
    to_org_name: str
    status: str
    created_at: datetime
    accepted_at: datetime | None


_TRANSFERS = (
    select(case_transfers.c.request_id, organisations.c.name, disclosure_requests.c.status,
           case_transfers.c.created_at, case_transfers.c.accepted_at)
    .join(organisations, organisations.c.id == case_transfers.c.to_org_id)
    .join(disclosure_requests, disclosure_requests.c.id == case_transfers.c.request_id)
    .where(and_(case_transfers.c.case_id == bindparam("case_id"),
                disclosure_requests.c.holder_org_id == bindparam("org_id")))
    .order_by(case_transfers.c.created_at.desc())
)


def transfer_rows(conn: Connection, case_id: str, holder_org_id: str) -> list[TransferRow]:
    """The case's transfers requested by the holding organisation, newest first."""
    if holds_none(conn, case_transfers, case_id):
        return []
    rows = conn.execute(_TRANSFERS, {"case_id": case_id, "org_id": holder_org_id}).all()
    return [TransferRow(r.request_id, r.name, r.status, _aware(r.created_at),
                        _aware_or_none(r.accepted_at)) for r in rows]


def is_transfer_request(conn: Connection, request_id: str) -> bool:
    """Whether the disclosure request carries a transfer."""
    return conn.execute(select(case_transfers.c.id).where(
        case_transfers.c.request_id == request_id)).first() is not None


@dataclass(frozen=True, slots=True)
class OpenTransfer:
    """A transfer not yet taken in: its row, the sending case and who asked for it."""

    id: str
    case_id: str
    requested_by: str


def open_transfer(conn: Connection, request_id: str) -> OpenTransfer | None:
    """The transfer carried by the request, if it is not yet taken in."""
    row = conn.execute(select(case_transfers).where(and_(
        case_transfers.c.request_id == request_id,
        case_transfers.c.accepted_at.is_(None)))).first()
    return OpenTransfer(row.id, row.case_id, row.requested_by) if row is not None else None


def mark_transfer_taken_in(conn: Connection, transfer_id: str, new_case_id: str,
                           now: datetime) -> None:
    """Keep that the receiving organisation took the case in as ``new_case_id``."""
    conn.execute(update(case_transfers).where(case_transfers.c.id == transfer_id)
                 .values(accepted_case_id=new_case_id, accepted_at=now))


def request_holder_org(conn: Connection, request_id: str) -> str | None:
    """The organisation holding the case a disclosure request is about."""
    holder = conn.execute(select(disclosure_requests.c.holder_org_id).where(
        disclosure_requests.c.id == request_id)).scalar()
    return str(holder) if holder is not None else None
