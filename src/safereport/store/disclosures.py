"""Disclosure queries: requests, approvals, packages, asks, their recorded steps, and keys.

The tables are defined in :mod:`safereport.store.staff`; these are the typed queries the
disclosure service runs over them (and over the cases and organisations they point to). Every
function takes the caller's connection and never commits: the service owns the transaction.
Statuses and other vocabularies are stored and returned as their plain string values; the
service reads them into its own types.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, update

from safereport.domain.vocabulary import ActorRole
from safereport.store.core import cases, organisations, subjects, users
from safereport.store.holding import holds_none
from safereport.store.staff import (
    case_transfers,
    disclosure_approvals,
    disclosure_asks,
    disclosure_events,
    disclosure_packages,
    disclosure_requests,
    org_keys,
)

__all__ = [
    "AskRow",
    "CaseDoor",
    "CaseHolding",
    "EventRow",
    "InboxRow",
    "NewAsk",
    "NewEvent",
    "NewPackage",
    "NewRequest",
    "OrganisationRow",
    "PackageRow",
    "PackagedCase",
    "RequestRow",
    "RequestState",
    "accepted_case_of",
    "approved_by_another_supervisor",
    "approver_names",
    "ask_events",
    "asks_from",
    "asks_to",
    "case_door",
    "case_for_package",
    "case_holder",
    "case_id_by_reference",
    "case_is_live",
    "case_reference",
    "claim_release",
    "close_open_ask",
    "held_ask",
    "inbox_rows",
    "insert_approval",
    "insert_ask",
    "insert_event",
    "insert_org_key",
    "insert_package",
    "insert_request",
    "lock_organisation",
    "mark_ask_answered",
    "mark_released",
    "move_status",
    "org_public_key",
    "organisation_kind",
    "organisation_name",
    "organisation_names",
    "other_organisations",
    "package_for",
    "request_events",
    "request_row",
    "request_state",
    "requests_for_case",
    "requests_with_status",
    "set_accepted_case",
    "set_justification_if_open",
    "set_status_if_open",
    "source_case_is_live",
    "the_request",
    "transferred_request_ids",
    "user_display_name",
]


# ---- rows -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestRow:
    """One disclosure request as stored (vocabularies as their string values)."""

    id: str
    case_id: str
    holder_org_id: str
    requester_id: str
    recipient_org_id: str | None
    recipient: str
    purpose: str
    #: Space-separated DataCategory values.
    categories: str
    #: JSON of the context facts stated with the request.
    context: str
    effect: str
    #: Space-separated Obligation values.
    obligations: str
    rules: str
    #: JSON list of plain-language reasons.
    reasons: str
    status: str
    justification_sealed: bytes | None
    decision_index: int | None
    release_index: int | None
    victim_request_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewRequest:
    """A request to write, with its decision already taken and recorded."""

    id: str
    case_id: str
    holder_org_id: str
    requester_id: str
    recipient_org_id: str
    recipient: str
    purpose: str
    categories: str
    context: str
    effect: str
    obligations: str
    rules: str
    reasons: str
    status: str
    justification_sealed: bytes | None
    decision_index: int
    victim_request_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RequestState:
    """Where a request stands, for the organisation that asked for it."""

    status: str
    #: JSON list of plain-language reasons.
    reasons: str


@dataclass(frozen=True, slots=True)
class PackageRow:
    """A released package as stored: sealed to its recipient organisation."""

    request_id: str
    recipient_org_id: str
    ephemeral_public: bytes
    nonce: bytes
    ciphertext: bytes
    sha256: str
    accepted_case_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewPackage:
    request_id: str
    recipient_org_id: str
    ephemeral_public: bytes
    nonce: bytes
    ciphertext: bytes
    sha256: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InboxRow:
    """A package in a recipient's inbox: what it holds and who sent it, not its contents."""

    request_id: str
    sender: str
    purpose: str
    categories: str
    accepted_case_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OrganisationRow:
    id: str
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class CaseDoor:
    """What says whether she can read a notice on her return page."""

    intake: str
    has_claim_code: bool
    #: Whether she has a codename (her subject row has a lookup id).
    has_codename: bool


@dataclass(frozen=True, slots=True)
class CaseHolding:
    org_id: str
    erased: bool


@dataclass(frozen=True, slots=True)
class PackagedCase:
    """The routing facts of a case that a package carries beside its fields."""

    reference: str
    crime_type: str
    subject_role: str


@dataclass(frozen=True, slots=True)
class EventRow:
    """One recorded end of the workflow, with the display name of who took it."""

    kind: str
    by: str
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewEvent:
    id: str
    request_id: str | None
    ask_id: str | None
    kind: str
    user_id: str
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AskRow:
    """An ask from another organisation to consider a disclosure (no case data)."""

    id: str
    from_org_id: str
    from_user_id: str
    to_org_id: str
    reference: str
    purpose: str
    categories: str
    status: str
    request_id: str | None
    created_at: datetime


def _blob(value: Any) -> bytes:
    return bytes(value)


def _request(r: Any) -> RequestRow:
    return RequestRow(
        id=r.id, case_id=r.case_id, holder_org_id=r.holder_org_id, requester_id=r.requester_id,
        recipient_org_id=r.recipient_org_id, recipient=r.recipient, purpose=r.purpose,
        categories=r.categories, context=r.context, effect=r.effect, obligations=r.obligations,
        rules=r.rules, reasons=r.reasons, status=r.status,
        justification_sealed=None if r.justification_sealed is None
        else _blob(r.justification_sealed),
        decision_index=r.decision_index, release_index=r.release_index,
        victim_request_id=r.victim_request_id, created_at=r.created_at,
        updated_at=r.updated_at)


def _package(r: Any) -> PackageRow:
    return PackageRow(
        request_id=r.request_id, recipient_org_id=r.recipient_org_id,
        ephemeral_public=_blob(r.ephemeral_public), nonce=_blob(r.nonce),
        ciphertext=_blob(r.ciphertext), sha256=r.sha256, accepted_case_id=r.accepted_case_id,
        created_at=r.created_at)


def _ask(r: Any) -> AskRow:
    return AskRow(
        id=r.id, from_org_id=r.from_org_id, from_user_id=r.from_user_id, to_org_id=r.to_org_id,
        reference=r.reference, purpose=r.purpose, categories=r.categories, status=r.status,
        request_id=r.request_id, created_at=r.created_at)


# ---- organisations, people and cases --------------------------------------------------------


_OTHER_ORGANISATIONS = (
    select(organisations.c.id, organisations.c.name, organisations.c.kind)
    .where(organisations.c.id != bindparam("org_id"))
    .order_by(organisations.c.kind, organisations.c.name)
)


def other_organisations(conn: Connection, org_id: str) -> list[OrganisationRow]:
    """Every organisation but ``org_id``, by kind then name."""
    rows = conn.execute(_OTHER_ORGANISATIONS, {"org_id": org_id}).all()
    return [OrganisationRow(r.id, r.name, r.kind) for r in rows]


def organisation_kind(conn: Connection, org_id: str) -> str | None:
    kind = conn.execute(
        select(organisations.c.kind).where(organisations.c.id == org_id)
    ).scalar()
    return None if kind is None else str(kind)


def organisation_name(conn: Connection, org_id: str | None) -> str | None:
    name = conn.execute(
        select(organisations.c.name).where(organisations.c.id == org_id)
    ).scalar()
    return None if name is None else str(name)


def organisation_names(conn: Connection, org_ids: Iterable[str]) -> dict[str, str]:
    """The names of these organisations, by id (an unknown id is left out)."""
    rows = conn.execute(select(organisations.c.id, organisations.c.name).where(
        organisations.c.id.in_(list(org_ids)))).all()
    return {r.id: r.name for r in rows}


def user_display_name(conn: Connection, user_id: str) -> str | None:
    name = conn.execute(select(users.c.display_name).where(users.c.id == user_id)).scalar()
    return None if name is None else str(name)


def case_holder(conn: Connection, case_id: str) -> CaseHolding | None:
    """Who holds a case and whether it was erased, or None for no such case."""
    row = conn.execute(select(cases).where(cases.c.id == case_id)).first()
    if row is None:
        return None
    return CaseHolding(org_id=row.org_id, erased=row.erased_at is not None)


def case_reference(conn: Connection, case_id: str) -> str | None:
    reference = conn.execute(select(cases.c.reference).where(cases.c.id == case_id)).scalar()
    return None if reference is None else str(reference)


def case_is_live(conn: Connection, case_id: str) -> bool:
    """Whether the case exists and was not erased."""
    row = conn.execute(select(cases.c.erased_at).where(cases.c.id == case_id)).first()
    return row is not None and row.erased_at is None


def case_id_by_reference(conn: Connection, reference: str, org_id: str) -> str | None:
    """The organisation's case (not erased) with this reference, if any."""
    found = conn.execute(select(cases.c.id).where(and_(
        cases.c.reference == reference, cases.c.org_id == org_id,
        cases.c.erased_at.is_(None)))).scalar()
    return None if found is None else str(found)


def case_door(conn: Connection, case_id: str) -> CaseDoor | None:
    """How she could read a notice on this case, or None for no such case."""
    row = conn.execute(
        select(cases.c.intake, cases.c.claim_code_hash, subjects.c.lookup_id)
        .select_from(cases.outerjoin(subjects, subjects.c.id == cases.c.subject_id))
        .where(cases.c.id == case_id)
    ).first()
    if row is None:
        return None
    return CaseDoor(intake=row.intake, has_claim_code=row.claim_code_hash is not None,
                    has_codename=row.lookup_id is not None)


def case_for_package(conn: Connection, case_id: str) -> PackagedCase:
    """The routing facts of a case being released (it must exist)."""
    row = conn.execute(select(cases).where(cases.c.id == case_id)).one()
    return PackagedCase(reference=row.reference, crime_type=row.crime_type,
                        subject_role=row.subject_role)


# ---- requests -------------------------------------------------------------------------------


def insert_request(conn: Connection, new: NewRequest) -> None:
    conn.execute(insert(disclosure_requests).values(
        id=new.id, case_id=new.case_id, holder_org_id=new.holder_org_id,
        requester_id=new.requester_id, recipient_org_id=new.recipient_org_id,
        recipient=new.recipient, purpose=new.purpose, categories=new.categories,
        context=new.context, effect=new.effect, obligations=new.obligations, rules=new.rules,
        reasons=new.reasons, status=new.status, justification_sealed=new.justification_sealed,
        decision_index=new.decision_index, victim_request_id=new.victim_request_id,
        created_at=new.created_at, updated_at=new.updated_at))


def request_row(conn: Connection, request_id: str) -> RequestRow | None:
    row = conn.execute(
        select(disclosure_requests).where(disclosure_requests.c.id == request_id)
    ).first()
    return None if row is None else _request(row)


def the_request(conn: Connection, request_id: str) -> RequestRow:
    """A request that must exist (NoResultFound otherwise)."""
    row = conn.execute(
        select(disclosure_requests).where(disclosure_requests.c.id == request_id)
    ).one()
    return _request(row)


def request_state(conn: Connection, request_id: str) -> RequestState | None:
    row = conn.execute(select(disclosure_requests.c.status, disclosure_requests.c.reasons)
                       .where(disclosure_requests.c.id == request_id)).first()
    return None if row is None else RequestState(status=row.status, reasons=row.reasons)


_FOR_CASE = (
    select(disclosure_requests)
    .where(and_(disclosure_requests.c.case_id == bindparam("case_id"),
                disclosure_requests.c.holder_org_id == bindparam("org_id")))
    .order_by(disclosure_requests.c.created_at.desc())
)


def requests_for_case(conn: Connection, case_id: str, holder_org_id: str) -> list[RequestRow]:
    """The organisation's requests about a case, newest first (built once: every case page)."""
    if holds_none(conn, disclosure_requests, case_id):
        return []
    return [_request(r) for r in conn.execute(
        _FOR_CASE, {"case_id": case_id, "org_id": holder_org_id}).all()]


def requests_with_status(
    conn: Connection, holder_org_id: str, statuses: Collection[str]
) -> list[RequestRow]:
    """The organisation's requests in any of these statuses, oldest first."""
    rows = conn.execute(select(disclosure_requests).where(and_(
        disclosure_requests.c.holder_org_id == holder_org_id,
        or_(*(disclosure_requests.c.status == status for status in statuses)),
    )).order_by(disclosure_requests.c.created_at)).all()
    return [_request(r) for r in rows]


def set_justification_if_open(
    conn: Connection, request_id: str, sealed: bytes, *, closed: Collection[str], now: datetime
) -> bool:
    """Store the sealed justification unless the request is closed; whether it was stored."""
    changed = conn.execute(
        update(disclosure_requests).where(and_(
            disclosure_requests.c.id == request_id,
            disclosure_requests.c.status.notin_(list(closed))))
        .values(justification_sealed=sealed, updated_at=now))
    return changed.rowcount == 1


def move_status(
    conn: Connection, request_id: str, *, from_status: str, to_status: str, now: datetime
) -> bool:
    """Move a request from one status to another; False if it was no longer in the first."""
    changed = conn.execute(update(disclosure_requests).where(and_(
        disclosure_requests.c.id == request_id,
        disclosure_requests.c.status == from_status)).values(
        status=to_status, updated_at=now))
    return changed.rowcount == 1


def set_status_if_open(
    conn: Connection,
    request_id: str,
    status: str,
    *,
    closed: Collection[str],
    now: datetime,
    effect: str | None = None,
    rules: str | None = None,
    reasons: str | None = None,
) -> None:
    """Set the status (and, when given, the effect, rules and reasons) unless it is closed."""
    values: dict[str, str] = {}
    if effect is not None:
        values["effect"] = effect
    if rules is not None:
        values["rules"] = rules
    if reasons is not None:
        values["reasons"] = reasons
    conn.execute(update(disclosure_requests).where(and_(
        disclosure_requests.c.id == request_id,
        disclosure_requests.c.status.notin_(list(closed))))
        .values(status=status, updated_at=now, **values))


def claim_release(conn: Connection, request_id: str, released: str, *,
                  closed: Collection[str]) -> bool:
    """Mark an open request released before its package is stored; False if it was closed
    (or claimed by another release) meanwhile."""
    claimed = conn.execute(
        update(disclosure_requests)
        .where(and_(disclosure_requests.c.id == request_id,
                    disclosure_requests.c.status.notin_(list(closed))))
        .values(status=released)
    )
    return claimed.rowcount == 1


def mark_released(conn: Connection, request_id: str, released: str, *, release_index: int,
                  effect: str, rules: str, now: datetime) -> None:
    """Record the release decision on a request whose package is stored."""
    conn.execute(update(disclosure_requests).where(disclosure_requests.c.id == request_id)
                 .values(status=released, release_index=release_index, effect=effect,
                         rules=rules, updated_at=now))


# ---- approvals ------------------------------------------------------------------------------


def insert_approval(conn: Connection, request_id: str, approver_id: str, now: datetime) -> None:
    conn.execute(insert(disclosure_approvals).values(
        request_id=request_id, approver_id=approver_id, approved_at=now))


def approved_by_another_supervisor(conn: Connection, request: RequestRow) -> bool:
    """Whether a supervisor of the holding organisation, not the one who asked, approved."""
    approvers = conn.execute(
        select(users.c.id).join(disclosure_approvals,
                                disclosure_approvals.c.approver_id == users.c.id)
        .where(and_(disclosure_approvals.c.request_id == request.id,
                    users.c.role == ActorRole.SUPERVISOR.value,
                    users.c.org_id == request.holder_org_id,
                    users.c.id != request.requester_id))
    ).first()
    return approvers is not None


def approver_names(conn: Connection, request_id: str) -> list[str]:
    """The display names of everyone who approved a request."""
    names = conn.execute(select(users.c.display_name).join(
        disclosure_approvals, disclosure_approvals.c.approver_id == users.c.id).where(
        disclosure_approvals.c.request_id == request_id)).scalars().all()
    return [str(name) for name in names]


# ---- recorded ends of the workflow ----------------------------------------------------------


def insert_event(conn: Connection, new: NewEvent) -> None:
    conn.execute(insert(disclosure_events).values(
        id=new.id, request_id=new.request_id, ask_id=new.ask_id, kind=new.kind,
        user_id=new.user_id, reason=new.reason, created_at=new.created_at))


def _events(conn: Connection, where: Any) -> list[EventRow]:
    rows = conn.execute(
        select(disclosure_events.c.kind, disclosure_events.c.reason,
               disclosure_events.c.created_at, users.c.display_name)
        .join(users, users.c.id == disclosure_events.c.user_id)
        .where(where).order_by(disclosure_events.c.created_at)
    ).all()
    return [EventRow(r.kind, r.display_name, r.reason, r.created_at) for r in rows]


def request_events(conn: Connection, request_id: str) -> list[EventRow]:
    """A request's recorded ends, oldest first."""
    return _events(conn, disclosure_events.c.request_id == request_id)


def ask_events(conn: Connection, ask_id: str | None) -> list[EventRow]:
    """An ask's recorded ends, oldest first."""
    return _events(conn, disclosure_events.c.ask_id == ask_id)


# ---- packages -------------------------------------------------------------------------------


def insert_package(conn: Connection, new: NewPackage) -> None:
    conn.execute(insert(disclosure_packages).values(
        request_id=new.request_id, recipient_org_id=new.recipient_org_id,
        ephemeral_public=new.ephemeral_public, nonce=new.nonce, ciphertext=new.ciphertext,
        sha256=new.sha256, accepted_case_id=None, created_at=new.created_at))


def package_for(conn: Connection, request_id: str, recipient_org_id: str) -> PackageRow | None:
    """The package of a request if it was released to this organisation."""
    row = conn.execute(select(disclosure_packages).where(and_(
        disclosure_packages.c.request_id == request_id,
        disclosure_packages.c.recipient_org_id == recipient_org_id))).first()
    return None if row is None else _package(row)


def inbox_rows(conn: Connection, recipient_org_id: str) -> list[InboxRow]:
    """Packages released to an organisation, newest first, with who sent them."""
    rows = conn.execute(
        select(disclosure_packages, disclosure_requests.c.purpose,
               disclosure_requests.c.categories, organisations.c.name)
        .join(disclosure_requests, disclosure_requests.c.id == disclosure_packages.c.request_id)
        .join(organisations, organisations.c.id == disclosure_requests.c.holder_org_id)
        .where(disclosure_packages.c.recipient_org_id == recipient_org_id)
        .order_by(disclosure_packages.c.created_at.desc())
    ).all()
    return [InboxRow(r.request_id, r.name, r.purpose, r.categories, r.accepted_case_id,
                     r.created_at) for r in rows]


def transferred_request_ids(conn: Connection, to_org_id: str) -> set[str]:
    """The requests that carry a case transferred to this organisation."""
    return {str(request_id) for request_id in conn.execute(
        select(case_transfers.c.request_id).where(case_transfers.c.to_org_id == to_org_id)
    ).scalars()}


def source_case_is_live(conn: Connection, request_id: str) -> bool:
    """Whether the case a request was made about still exists and was not erased."""
    row = conn.execute(
        select(cases.c.erased_at).join(
            disclosure_requests, disclosure_requests.c.case_id == cases.c.id)
        .where(disclosure_requests.c.id == request_id)
    ).first()
    return row is not None and row.erased_at is None


def accepted_case_of(conn: Connection, request_id: str) -> str | None:
    """The case a package was taken into, if it was."""
    row = conn.execute(select(disclosure_packages.c.accepted_case_id).where(
        disclosure_packages.c.request_id == request_id)).first()
    if row is None or row.accepted_case_id is None:
        return None
    return str(row.accepted_case_id)


def set_accepted_case(conn: Connection, request_id: str, case_id: str) -> None:
    conn.execute(update(disclosure_packages).where(
        disclosure_packages.c.request_id == request_id).values(accepted_case_id=case_id))


# ---- asks -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewAsk:
    id: str
    from_org_id: str
    from_user_id: str
    to_org_id: str
    reference: str
    purpose: str
    categories: str
    created_at: datetime


def insert_ask(conn: Connection, new: NewAsk) -> None:
    """Write a new, open ask."""
    conn.execute(insert(disclosure_asks).values(
        id=new.id, from_org_id=new.from_org_id, from_user_id=new.from_user_id,
        to_org_id=new.to_org_id, reference=new.reference, purpose=new.purpose,
        categories=new.categories, status="open", request_id=None,
        created_at=new.created_at))


def asks_to(conn: Connection, org_id: str) -> list[AskRow]:
    """Asks received by an organisation, newest first."""
    rows = conn.execute(select(disclosure_asks).where(
        disclosure_asks.c.to_org_id == org_id).order_by(
        disclosure_asks.c.created_at.desc())).all()
    return [_ask(r) for r in rows]


def asks_from(conn: Connection, org_id: str) -> list[AskRow]:
    """Asks sent by an organisation, newest first."""
    rows = conn.execute(select(disclosure_asks).where(
        disclosure_asks.c.from_org_id == org_id).order_by(
        disclosure_asks.c.created_at.desc())).all()
    return [_ask(r) for r in rows]


def held_ask(conn: Connection, ask_id: str, to_org_id: str) -> AskRow | None:
    """An ask received by this organisation, or None."""
    row = conn.execute(select(disclosure_asks).where(and_(
        disclosure_asks.c.id == ask_id, disclosure_asks.c.to_org_id == to_org_id))).first()
    return None if row is None else _ask(row)


def close_open_ask(conn: Connection, ask_id: str, status: str) -> bool:
    """Close an open ask with this status; False if it was no longer open."""
    changed = conn.execute(update(disclosure_asks).where(and_(
        disclosure_asks.c.id == ask_id, disclosure_asks.c.status == "open")).values(
        status=status))
    return changed.rowcount == 1


def mark_ask_answered(conn: Connection, ask_id: str, request_id: str) -> None:
    conn.execute(update(disclosure_asks).where(disclosure_asks.c.id == ask_id).values(
        status="answered", request_id=request_id))


# ---- recipient organisations' keys ----------------------------------------------------------


def lock_organisation(conn: Connection, org_id: str) -> None:
    """Lock the organisation's row until the transaction ends (on PostgreSQL)."""
    conn.execute(select(organisations.c.id).where(organisations.c.id == org_id)
                 .with_for_update())


def org_public_key(conn: Connection, org_id: str) -> bytes | None:
    stored = conn.execute(
        select(org_keys.c.public_key).where(org_keys.c.org_id == org_id)
    ).scalar()
    return None if stored is None else bytes(stored)


def insert_org_key(conn: Connection, org_id: str, public_key: bytes, now: datetime) -> None:
    conn.execute(insert(org_keys).values(org_id=org_id, public_key=public_key, created_at=now))
