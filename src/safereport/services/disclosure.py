"""The disclosure workflow: request, decision with reasons, obligations enforced, release.

1. A request (recipient organisation, purpose, data categories, the POLICY.md context facts,
   optionally a written justification) is decided by the guard and recorded in the ledger
   whatever the answer. A denial is stored with its rule ids and reasons; nothing is released.
2. Obligations are enforced, not displayed:
   * ``record_justification``: nothing is released until a written reason is recorded (sealed
     under the case's data key);
   * ``supervisor_approval``: a supervisor of the holding organisation, other than the person
     who asked, must approve;
   * ``notify_subject``: the release puts a message on the victim's return page;
   * ``redact_immigration``: the vault removes nationality and immigration status.
3. Release is decided again at that moment (consent may have been withdrawn, the regime may
   have changed) through :func:`~safereport.services.access.access_case` with the fulfilled
   obligations; the opened fields are sealed to the recipient organisation's X25519 key and
   stored; the release is a ledger entry of its own.

A recipient takes a package into its own casework with :func:`accept_package`: the fields are
sealed under a new case of the recipient's, and read from then on through the guard.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from safereport.domain.case import CaseStatus, IntakeKind, new_id
from safereport.domain.fields import FIELD_CATEGORY, FIELD_ORDER, CaseField
from safereport.domain.vocabulary import (
    Action,
    ActorRole,
    CrimeType,
    DataCategory,
    Effect,
    Obligation,
    OrgKind,
    Purpose,
    Recipient,
    StatusEvidence,
    SubjectRole,
)
from safereport.errors import AccessDenied, InvalidInput, LedgerError, NotFound, VaultError
from safereport.policy.decision import Decision, Grant
from safereport.services.access import (
    Actor,
    Write,
    access_case,
    active_consent,
    decide_and_record,
    decide_write,
    grant_for,
    open_blob,
    record_failure,
    writer,
)
from safereport.services.auth import StaffUser, get_user
from safereport.services.casework import (
    CaseNotHeld,
    actor_for,
    default_purpose,
    insert_note,
    record_not_held,
)
from safereport.services.disclosure_seal import (
    SealedPackage,
    ensure_org_key,
    open_package,
    seal_package,
)
from safereport.services.instance import Instance
from safereport.store.cases import NewCase, insert_case, remove_case
from safereport.store.core import cases, organisations, subjects
from safereport.store.provenance import standing_consent_row, victim_request_row
from safereport.store.staff import (
    case_transfers,
    disclosure_approvals,
    disclosure_asks,
    disclosure_events,
    disclosure_packages,
    disclosure_requests,
)

__all__ = [
    "CONTEXT_FLAGS",
    "AskView",
    "DisclosureForm",
    "DisclosureStatus",
    "DisclosureView",
    "InboxItem",
    "PackageExpired",
    "PackageView",
    "WorkflowEvent",
    "accept_package",
    "add_justification",
    "answer_ask",
    "approve",
    "ask_for_disclosure",
    "asks",
    "awaiting_approval",
    "decline_ask",
    "disclosures_for_case",
    "inbox",
    "open_released_package",
    "parse_disclosure_form",
    "read_package",
    "recipient_organisations",
    "refuse",
    "release_waiting",
    "request_disclosure",
    "send_back",
    "view_disclosure",
    "withdraw",
]

#: The boolean context facts a person states on the form. ``consent`` and
#: ``victim_initiated`` are read from the record (her own door, or two staff members), and
#: ``automated`` from the kind of actor (POLICY.md v2): the form offers none of them.
CONTEXT_FLAGS = (
    "emergency",
    "harm_intelligence",
    "proceedings_ongoing",
)
#: Facts older rows stored in their context that are now derived, never replayed.
_DERIVED_FACTS = frozenset({"automated", "consent", "victim_initiated"})
_REQUEST_ID = re.compile(r"[0-9a-f]{32}")
JUSTIFICATION_LABEL = "disclosure-justification:"
MAX_JUSTIFICATION_CHARS = 5000
_OBLIGATIONS_WE_FULFIL = frozenset({Obligation.NOTIFY_SUBJECT})
log = logging.getLogger("safereport.disclosure")


class DisclosureStatus(StrEnum):
    DENIED = "denied"
    NEEDS_APPROVAL = "needs_approval"
    NEEDS_JUSTIFICATION = "needs_justification"
    RELEASED = "released"
    #: notify_subject is owed, and she cannot read a notice yet (an unclaimed third-party
    #: report): nothing is released until she can.
    WAITING_FOR_HER = "waiting_for_her"
    #: An approver refused it, with a reason: nothing is released, and it is closed.
    REFUSED = "refused"
    #: An approver sent it back to the person who asked, with a reason: it waits for her to
    #: write a new justification (then it waits for approval again) or to withdraw it.
    SENT_BACK = "sent_back"
    #: The person who asked withdrew it, with a reason: nothing is released, and it is closed.
    WITHDRAWN = "withdrawn"


#: Statuses nothing moves a request out of.
FINAL_STATUSES = frozenset({DisclosureStatus.DENIED, DisclosureStatus.RELEASED,
                            DisclosureStatus.REFUSED, DisclosureStatus.WITHDRAWN})


@dataclass(frozen=True)
class DisclosureForm:
    case_id: str
    recipient_org_id: str
    purpose: Purpose
    categories: frozenset[DataCategory]
    status_evidence: StatusEvidence = StatusEvidence.NONE
    flags: frozenset[str] = frozenset()
    justification: str = ""
    #: Her own request this disclosure carries out (``victim_initiated`` is derived from it).
    victim_request_id: str = ""

    def context(self) -> dict[str, Any]:
        facts: dict[str, Any] = {name: name in self.flags for name in CONTEXT_FLAGS}
        facts["status_evidence"] = self.status_evidence
        return facts


def parse_disclosure_form(
    fields: Mapping[str, str], categories: Sequence[str], flags: Iterable[str] = ()
) -> DisclosureForm:
    """Check a submitted form; InvalidInput naming the field at fault."""
    try:
        purpose = Purpose(fields.get("purpose", ""))
    except ValueError as exc:
        raise InvalidInput("choose a purpose") from exc
    try:
        evidence = StatusEvidence(fields.get("status_evidence") or StatusEvidence.NONE)
    except ValueError as exc:
        raise InvalidInput("choose what is known of immigration status") from exc
    try:
        wanted = frozenset(DataCategory(c) for c in categories)
    except ValueError as exc:
        raise InvalidInput("unknown data category") from exc
    if not wanted:
        raise InvalidInput("choose at least one kind of data")
    if DataCategory.AGGREGATE in wanted:
        raise InvalidInput("aggregate data is published as statistics, not disclosed")
    stated = frozenset(flags)
    derived = stated & _DERIVED_FACTS
    if derived:
        raise InvalidInput(
            "consent and 'she asked for this' are read from her record, not from this form: "
            "choose her request below, or ask a colleague to confirm one she made in person"
        )
    unknown = stated - set(CONTEXT_FLAGS)
    if unknown:
        raise InvalidInput("unknown fact: " + ", ".join(sorted(unknown)))
    victim_request = fields.get("victim_request", "").strip()
    if victim_request and not _REQUEST_ID.fullmatch(victim_request):
        raise InvalidInput("choose one of her requests")
    justification = fields.get("justification", "").strip()
    if len(justification) > MAX_JUSTIFICATION_CHARS:
        raise InvalidInput(f"a justification holds at most {MAX_JUSTIFICATION_CHARS} characters")
    recipient = fields.get("recipient_org", "").strip()
    if not recipient:
        raise InvalidInput("choose who receives the data")
    return DisclosureForm(
        case_id=fields.get("case_id", ""),
        recipient_org_id=recipient,
        purpose=purpose,
        categories=wanted,
        status_evidence=evidence,
        flags=stated,
        justification=justification,
        victim_request_id=victim_request,
    )


@dataclass(frozen=True)
class DisclosureView:
    id: str
    case_id: str
    reference: str
    requester_id: str
    requester: str
    recipient_org: str
    recipient: Recipient
    purpose: Purpose
    categories: tuple[DataCategory, ...]
    context: Mapping[str, Any]
    effect: Effect
    obligations: tuple[Obligation, ...]
    rules: tuple[str, ...]
    reasons: tuple[str, ...]
    status: DisclosureStatus
    has_justification: bool
    approvers: tuple[str, ...]
    created_at: datetime
    outstanding: tuple[str, ...] = field(default=())
    #: The workflow's ends and returns (refused, sent back, sent again, withdrawn), oldest first.
    events: tuple[WorkflowEvent, ...] = field(default=())

    @property
    def is_open(self) -> bool:
        return self.status not in FINAL_STATUSES


def recipient_organisations(instance: Instance, user: StaffUser) -> list[tuple[str, str, str]]:
    """Every other organisation: (id, name, kind), for the recipient list."""
    with instance.engine.connect() as conn:
        rows = conn.execute(
            select(organisations.c.id, organisations.c.name, organisations.c.kind)
            .where(organisations.c.id != user.org_id)
            .order_by(organisations.c.kind, organisations.c.name)
        ).all()
    return [(r.id, r.name, r.kind) for r in rows]


class _UnknownRecipient(InvalidInput):
    def __init__(self) -> None:
        super().__init__("choose who receives the data")


def _recipient_of(conn: Connection, org_id: str) -> Recipient:
    kind = conn.execute(
        select(organisations.c.kind).where(organisations.c.id == org_id)
    ).scalar()
    try:
        return Recipient(OrgKind(str(kind)).value)
    except ValueError as exc:
        raise _UnknownRecipient() from exc


def _own_case(conn: Connection, user: StaffUser, case_id: str) -> Any:
    row = conn.execute(select(cases).where(cases.c.id == case_id)).first()
    if row is None or row.org_id != user.org_id or row.erased_at is not None:
        raise CaseNotHeld()
    return row


def _record_refused_request(
    instance: Instance, user: StaffUser, form: DisclosureForm, exc: InvalidInput
) -> None:
    """A request refused before the guard could weigh it is a denial on record too (I2)."""
    if isinstance(exc, CaseNotHeld):
        record_not_held(instance, user, form.case_id, Action.DISCLOSE, "disclosure_requested")
        return
    # An unknown recipient: the guard is asked with an unknown fact, so it denies and says why.
    decide_and_record(
        instance, actor_for(user), form.case_id, action=Action.DISCLOSE, purpose=form.purpose,
        categories=form.categories, context={"unknown_recipient": True},
        detail={"event": "disclosure_requested"},
    )


def _now() -> datetime:
    return datetime.now(UTC)


# ---- asking ---------------------------------------------------------------------------------


def request_disclosure(instance: Instance, user: StaffUser, form: DisclosureForm) -> str:
    """Decide and record a request; release at once if no obligation is outstanding.

    Returns the request id (its page shows the decision, its reasons, and what is still owed).
    """
    request_id = new_id()
    try:
        return _request_disclosure(instance, user, form, request_id)
    except (CaseNotHeld, _UnknownRecipient) as exc:
        _record_refused_request(instance, user, form, exc)
        raise


def _request_disclosure(
    instance: Instance, user: StaffUser, form: DisclosureForm, request_id: str
) -> str:
    try:
        decision = _decide_request(instance, user, form, request_id)
    except VaultError as exc:
        # The justification could not be sealed (the case key is gone): the transaction
        # rolled back, so the refusal is recorded on its own and nothing is stored.
        record_failure(instance, actor_for(user), form.case_id, None, "vault_error",
                       detail={"event": "disclosure_requested", "disclosure": request_id})
        raise AccessDenied("access denied: the protected data could not be opened") from exc
    if decision.allowed:
        _advance(instance, request_id)
    return request_id


def _decide_request(
    instance: Instance, user: StaffUser, form: DisclosureForm, request_id: str
) -> Decision:
    with instance.engine.begin() as conn:
        _own_case(conn, user, form.case_id)
        recipient = _recipient_of(conn, form.recipient_org_id)
        decision, index = decide_and_record(
            instance, actor_for(user), form.case_id, action=Action.DISCLOSE,
            purpose=form.purpose, categories=form.categories, recipient=recipient,
            context=form.context(),
            detail={"event": "disclosure_requested", "disclosure": request_id}, conn=conn,
            victim_request=form.victim_request_id or None,
        )
        sealed = None
        if decision.allowed and form.justification:
            sealed = _seal_justification(writer(instance, conn, decision, index, form.case_id),
                                         request_id, form.justification)
        conn.execute(insert(disclosure_requests).values(
            id=request_id, case_id=form.case_id, holder_org_id=user.org_id,
            requester_id=user.id, recipient_org_id=form.recipient_org_id,
            recipient=recipient.value, purpose=form.purpose.value,
            categories=" ".join(sorted(form.categories)), context=json.dumps(
                {k: str(v) if isinstance(v, StrEnum) else v for k, v in form.context().items()},
                sort_keys=True),
            effect=decision.effect.value, obligations=" ".join(sorted(decision.obligations)),
            rules=" ".join(decision.rules), reasons=json.dumps(list(decision.reasons)),
            status=(DisclosureStatus.DENIED if not decision.allowed
                    else DisclosureStatus.NEEDS_JUSTIFICATION).value,
            justification_sealed=sealed, decision_index=index,
            victim_request_id=form.victim_request_id or None,
            created_at=_now(), updated_at=_now()))
    return decision


def _seal_justification(write: Write, request_id: str, text: str) -> bytes:
    return write.seal_blob(DataCategory.CASE_NOTES, JUSTIFICATION_LABEL + request_id,
                           text.encode("utf-8"))


def add_justification(instance: Instance, user: StaffUser, request_id: str, text: str) -> None:
    """Record the written reason (only the person who asked), then release if nothing else is
    outstanding."""
    body = text.strip()
    if not body:
        raise InvalidInput("a justification must say why this disclosure is needed")
    if len(body) > MAX_JUSTIFICATION_CHARS:
        raise InvalidInput(f"a justification holds at most {MAX_JUSTIFICATION_CHARS} characters")
    row = _held_request(instance, user, request_id, "justification")
    refusal = None
    if row.requester_id != user.id:
        refusal = "only the person who asked can give the justification"
    elif row.status in FINAL_STATUSES:
        refusal = f"this request is {_plain_status(row.status)} already"
    if refusal is not None:
        _record_refusal(instance, user, row, "justification_refused")
        raise InvalidInput(refusal)
    try:
        with instance.engine.begin() as conn:
            # Writing the reason is a write to her case: decided and recorded with it.
            decision, write = decide_write(
                instance, conn, actor_for(user), row.case_id, purpose=default_purpose(user),
                categories=[DataCategory.CASE_NOTES],
                detail={"event": "justification_added", "disclosure": request_id})
            if write is None:
                raise _Denied(decision)
            sealed = _seal_justification(write, request_id, body)
            changed = conn.execute(
                update(disclosure_requests).where(and_(
                    disclosure_requests.c.id == request_id,
                    disclosure_requests.c.status.notin_([s.value for s in FINAL_STATUSES])))
                .values(justification_sealed=sealed, updated_at=_now()))
            if changed.rowcount != 1:
                raise _Raced()
            if row.status == DisclosureStatus.SENT_BACK:
                # Sent again after an approver sent it back: on record, and in its history.
                _record_step(instance, conn, user, row, EventKind.RESUBMITTED,
                             "A new justification was written.")
    except VaultError as exc:
        record_failure(instance, actor_for(user), row.case_id, None, "vault_error",
                       detail={"event": "justification", "disclosure": request_id})
        raise AccessDenied("access denied: the protected data could not be sealed") from exc
    except _Denied as denied:  # rolled back with the write: the denial commits on its own
        decide_and_record(instance, actor_for(user), row.case_id, action=Action.UPDATE,
                          purpose=default_purpose(user), categories=[DataCategory.CASE_NOTES],
                          detail={"event": "justification_added", "disclosure": request_id})
        raise AccessDenied("not allowed: " + "; ".join(
            denied.decision.reasons or ("no rule allows it",)),
            rules=denied.decision.rules, reasons=denied.decision.reasons) from None
    except _Raced:
        _record_refusal(instance, user, row, "justification_raced")
        raise InvalidInput("this request was closed meanwhile; look at it again") from None
    _advance(instance, request_id)


def approve(instance: Instance, approver: StaffUser, request_id: str) -> None:
    """A supervisor's approval: of the holding organisation, and not the person who asked.

    A refused approval is a denial on record (I2), as any refusal touching a case is.
    """
    refusal = None
    with instance.engine.begin() as conn:
        row = _request_row(conn, approver, request_id)
        if row is not None:
            refusal = _approval_refusal(approver, row)
            if refusal is None:
                conn.execute(insert(disclosure_approvals).values(
                    request_id=request_id, approver_id=approver.id, approved_at=_now()))
    if row is None:
        _held_request(instance, approver, request_id, "approval")  # records, then raises
    if refusal is not None:
        _record_refusal(instance, approver, row, "approval_refused")
        raise InvalidInput(refusal)
    _advance(instance, request_id)


def _approval_refusal(approver: StaffUser, row: Any) -> str | None:
    if row.status != DisclosureStatus.NEEDS_APPROVAL:
        return "this request is not waiting for approval"
    # The obligation is defined by who may meet it: a second, different supervisor.
    if approver.role is not ActorRole.SUPERVISOR:
        return "only a supervisor can approve a disclosure"
    if approver.id == row.requester_id:
        return "a second supervisor, not the one who asked, must approve"
    return None


def _record_refusal(instance: Instance, user: StaffUser, row: Any, event: str) -> None:
    """Commit a denial for a refused step of the workflow on this request's case."""
    # The stated fact is unknown to the policy, so the guard denies; the entry names the step.
    decide_and_record(
        instance, actor_for(user), row.case_id, action=Action.DISCLOSE,
        purpose=Purpose(row.purpose),
        categories=[DataCategory(c) for c in row.categories.split()],
        recipient=Recipient(row.recipient), context={event: True},
        detail={"event": event, "disclosure": row.id},
    )


def _held_request(instance: Instance, user: StaffUser, request_id: str, event: str) -> Any:
    """The organisation's request, or a denial on record and "no such disclosure request"."""
    with instance.engine.connect() as conn:
        row = _request_row(conn, user, request_id)
    if row is None:
        record_failure(instance, actor_for(user), None, None, "disclosure_not_held",
                       detail={"event": event})
        raise NotFound("no such disclosure request")
    return row


def _request_row(conn: Connection, user: StaffUser, request_id: str) -> Any:
    """The request if the user's organisation holds it, else None (see :func:`_held_request`)."""
    row = conn.execute(
        select(disclosure_requests).where(disclosure_requests.c.id == request_id)
    ).first()
    if row is None or row.holder_org_id != user.org_id:
        return None
    return row


# ---- the ends of the workflow: refuse, send back, withdraw (each with a reason, on record) ---


class EventKind(StrEnum):
    REFUSED = "refused"
    SENT_BACK = "sent_back"
    RESUBMITTED = "resubmitted"
    WITHDRAWN = "withdrawn"
    ASK_DECLINED = "ask_declined"


#: How each end reads on the page.
EVENT_LABELS: dict[EventKind, str] = {
    EventKind.REFUSED: "Refused by the approver",
    EventKind.SENT_BACK: "Sent back to the person who asked",
    EventKind.RESUBMITTED: "Sent again with a new justification",
    EventKind.WITHDRAWN: "Withdrawn by the person who asked",
    EventKind.ASK_DECLINED: "Declined by the organisation asked",
}
MAX_REASON_CHARS = 1000


@dataclass(frozen=True)
class WorkflowEvent:
    kind: EventKind
    by: str
    reason: str
    at: datetime

    @property
    def label(self) -> str:
        return EVENT_LABELS[self.kind]


class _Raced(Exception):
    """The request changed between reading it and writing its next step."""


def _plain_status(status: str) -> str:
    return str(status).replace("_", " ")


def _reason(text: str, what: str) -> str:
    body = " ".join(text.split())
    if not body:
        raise InvalidInput(f"write the reason {what}: the person who asked will read it")
    if len(body) > MAX_REASON_CHARS:
        raise InvalidInput(f"a reason holds at most {MAX_REASON_CHARS} characters")
    return body


def _events(conn: Connection, *, request_id: str | None = None,
            ask_id: str | None = None) -> list[WorkflowEvent]:
    from safereport.store.core import users

    query = select(disclosure_events.c.kind, disclosure_events.c.reason,
                   disclosure_events.c.created_at, users.c.display_name).join(
        users, users.c.id == disclosure_events.c.user_id)
    if request_id is not None:
        query = query.where(disclosure_events.c.request_id == request_id)
    else:
        query = query.where(disclosure_events.c.ask_id == ask_id)
    rows = conn.execute(query.order_by(disclosure_events.c.created_at)).all()
    return [WorkflowEvent(EventKind(r.kind), r.display_name, r.reason, r.created_at)
            for r in rows]


def _record_step(instance: Instance, conn: Connection, user: StaffUser, row: Any,
                 kind: EventKind, reason: str) -> None:
    """Keep one end of the workflow, and its ledger entry, in the caller's transaction.

    The entry is the guard's answer to the disclosure with the step stated as a fact the
    policy does not know, so it is a denial naming the step: "this disclosure was refused
    (or sent back, or withdrawn) by this person", committed with the change it records.
    """
    conn.execute(insert(disclosure_events).values(
        id=new_id(), request_id=row.id, ask_id=None, kind=kind.value, user_id=user.id,
        reason=reason, created_at=_now()))
    decide_and_record(
        instance, actor_for(user), row.case_id, action=Action.DISCLOSE,
        purpose=Purpose(row.purpose),
        categories=[DataCategory(c) for c in row.categories.split()],
        recipient=Recipient(row.recipient), context={f"disclosure_{kind.value}": True},
        detail={"event": f"disclosure_{kind.value}", "disclosure": row.id}, conn=conn,
    )


def _close_step(instance: Instance, user: StaffUser, request_id: str, *, event: str,
                refusal_of: Callable[[Any], str | None], to: DisclosureStatus,
                kind: EventKind, reason: str) -> None:
    row = _held_request(instance, user, request_id, event)
    refusal = refusal_of(row)
    if refusal is None:
        try:
            with instance.engine.begin() as conn:
                changed = conn.execute(update(disclosure_requests).where(and_(
                    disclosure_requests.c.id == request_id,
                    disclosure_requests.c.status == row.status)).values(
                    status=to.value, updated_at=_now()))
                if changed.rowcount != 1:
                    raise _Raced()
                _record_step(instance, conn, user, row, kind, reason)
            return
        except _Raced:
            refusal = "this request changed meanwhile; look at it again"
    _record_refusal(instance, user, row, f"{event}_refused")
    raise InvalidInput(refusal)


def _approver_refusal(approver: StaffUser, row: Any, *, waiting: frozenset[str]) -> str | None:
    if approver.role is not ActorRole.SUPERVISOR:
        return "only a supervisor can refuse or send back a disclosure"
    if approver.id == row.requester_id:
        return "a second supervisor, not the one who asked, decides this; you can withdraw it"
    if row.status not in waiting:
        return f"this request is {_plain_status(row.status)}, not waiting for approval"
    return None


_REFUSABLE = frozenset({DisclosureStatus.NEEDS_APPROVAL.value,
                        DisclosureStatus.NEEDS_JUSTIFICATION.value,
                        DisclosureStatus.SENT_BACK.value,
                        DisclosureStatus.WAITING_FOR_HER.value})


def refuse(instance: Instance, approver: StaffUser, request_id: str, reason: str) -> None:
    """A supervisor (not the one who asked) refuses a waiting request, with a reason.

    Nothing is released; the request is closed; the reason is shown to the person who asked
    (and, for an ask, to the organisation that asked); the refusal is in the ledger.
    """
    text = _reason(reason, "for refusing")
    _close_step(instance, approver, request_id, event="refusal",
                refusal_of=lambda row: _approver_refusal(approver, row, waiting=_REFUSABLE),
                to=DisclosureStatus.REFUSED, kind=EventKind.REFUSED, reason=text)


def send_back(instance: Instance, approver: StaffUser, request_id: str, reason: str) -> None:
    """A supervisor sends a request waiting for approval back to the person who asked."""
    text = _reason(reason, "for sending it back")
    _close_step(instance, approver, request_id, event="send_back",
                refusal_of=lambda row: _approver_refusal(
                    approver, row, waiting=frozenset({DisclosureStatus.NEEDS_APPROVAL.value})),
                to=DisclosureStatus.SENT_BACK, kind=EventKind.SENT_BACK, reason=text)


def withdraw(instance: Instance, user: StaffUser, request_id: str, reason: str) -> None:
    """The person who asked withdraws a request not yet released or closed."""
    text = _reason(reason, "for withdrawing it")

    def refusal_of(row: Any) -> str | None:
        if row.requester_id != user.id:
            return "only the person who asked can withdraw a request"
        if row.status in FINAL_STATUSES:
            return f"this request is {_plain_status(row.status)} already"
        return None

    _close_step(instance, user, request_id, event="withdrawal", refusal_of=refusal_of,
                to=DisclosureStatus.WITHDRAWN, kind=EventKind.WITHDRAWN, reason=text)


# ---- release --------------------------------------------------------------------------------


class _Door(StrEnum):
    """Whether the subject can read a notice on her return page."""

    NEVER = "never"  # no door and none can come (an anonymous report)
    OPEN = "open"
    PENDING = "pending"  # an unclaimed third-party report: a door once she claims it


def _door(conn: Connection, case_id: str) -> _Door:
    row = conn.execute(
        select(cases.c.intake, cases.c.claim_code_hash, subjects.c.lookup_id)
        .select_from(cases.outerjoin(subjects, subjects.c.id == cases.c.subject_id))
        .where(cases.c.id == case_id)
    ).first()
    if row is None:
        return _Door.NEVER
    if row.lookup_id is not None:
        return _Door.OPEN
    if row.intake == IntakeKind.THIRD_PARTY.value and row.claim_code_hash is not None:
        return _Door.PENDING
    return _Door.NEVER


_NO_DOOR = ("She must be told of this disclosure (notify_subject), and this report has no way "
            "for her to read a notice (it was made without a codename); nothing was sent.")
_DOOR_PENDING = ("telling her (notify_subject): she cannot read a notice until she claims "
                 "her report with its claim code")


def _fulfilled(conn: Connection, row: Any) -> tuple[frozenset[Obligation], list[str]]:
    """What is met now, and the plain-language list of what is still outstanding."""
    owed = frozenset(Obligation(o) for o in row.obligations.split())
    met: set[Obligation] = set(_OBLIGATIONS_WE_FULFIL & owed)
    outstanding: list[str] = []
    if Obligation.NOTIFY_SUBJECT in owed and _door(conn, row.case_id) is not _Door.OPEN:
        # A notice nobody can read is not a notice: the obligation is not met (POLICY.md v2).
        met.discard(Obligation.NOTIFY_SUBJECT)
        outstanding.append(_DOOR_PENDING)
    if Obligation.RECORD_JUSTIFICATION in owed:
        if row.justification_sealed is not None:
            met.add(Obligation.RECORD_JUSTIFICATION)
        else:
            outstanding.append("a written justification (record_justification)")
    if Obligation.SUPERVISOR_APPROVAL in owed:
        if _approved(conn, row):
            met.add(Obligation.SUPERVISOR_APPROVAL)
        else:
            outstanding.append("approval by a second, different supervisor (supervisor_approval)")
    return frozenset(met), outstanding


def _approved(conn: Connection, row: Any) -> bool:
    from safereport.store.core import users

    approvers = conn.execute(
        select(users.c.id).join(disclosure_approvals,
                                disclosure_approvals.c.approver_id == users.c.id)
        .where(and_(disclosure_approvals.c.request_id == row.id,
                    users.c.role == ActorRole.SUPERVISOR.value,
                    users.c.org_id == row.holder_org_id,
                    users.c.id != row.requester_id))
    ).first()
    return approvers is not None


def _advance(instance: Instance, request_id: str) -> None:
    """Release if every obligation is met; otherwise record what the request waits for."""
    with instance.engine.connect() as conn:
        row = conn.execute(
            select(disclosure_requests).where(disclosure_requests.c.id == request_id)
        ).one()
        met, outstanding = _fulfilled(conn, row)
        door = _door(conn, row.case_id)
    notify = Obligation.NOTIFY_SUBJECT.value in row.obligations.split()
    if notify and door is _Door.NEVER:
        _refuse_release(instance, row, "no_door_to_notify", _NO_DOOR)
        return
    if outstanding:
        if row.justification_sealed is None and (
            Obligation.RECORD_JUSTIFICATION in row.obligations.split()
        ):
            waiting = DisclosureStatus.NEEDS_JUSTIFICATION
        elif outstanding == [_DOOR_PENDING]:
            waiting = DisclosureStatus.WAITING_FOR_HER
        else:
            waiting = DisclosureStatus.NEEDS_APPROVAL
        _set_status(instance, request_id, waiting)
        return
    _release(instance, row, met)


def _refuse_release(instance: Instance, row: Any, failure: str, reason: str) -> None:
    """Close a request that cannot be released, with the real reason, as a denial on record."""
    record_failure(instance, _requester_actor(instance, row), row.case_id, None, failure,
                   detail={"disclosure": row.id})
    _set_status(instance, row.id, DisclosureStatus.DENIED, effect=Effect.DENY.value,
                rules="", reasons=json.dumps([reason]))


def release_waiting(instance: Instance, user: StaffUser, request_id: str) -> None:
    """Try again a request that waited for her (she may have claimed her report since)."""
    row = _held_request(instance, user, request_id, "release_retry")
    if row.status != DisclosureStatus.WAITING_FOR_HER:
        _record_refusal(instance, user, row, "release_retry_refused")
        raise InvalidInput("this request is not waiting for her")
    _advance(instance, request_id)


def _set_status(instance: Instance, request_id: str, status: DisclosureStatus,
                **values: Any) -> None:
    """Move a request that is still open (a refused or withdrawn one stays closed)."""
    with instance.engine.begin() as conn:
        conn.execute(update(disclosure_requests).where(and_(
            disclosure_requests.c.id == request_id,
            disclosure_requests.c.status.notin_([s.value for s in FINAL_STATUSES])))
            .values(status=status.value, updated_at=_now(), **values))


def _requester_actor(instance: Instance, row: Any) -> Actor:
    with instance.engine.connect() as conn:
        requester = get_user(conn, row.requester_id)
    if requester is None:
        raise InvalidInput("the person who asked no longer has an account")
    return actor_for(requester)


def _release(instance: Instance, row: Any, met: frozenset[Obligation]) -> None:
    categories = frozenset(DataCategory(c) for c in row.categories.split())
    names = [f for f in CaseField if FIELD_CATEGORY[f] in categories]
    context = {k: v for k, v in json.loads(row.context).items() if k not in _DERIVED_FACTS}
    try:
        access = access_case(
            instance, _requester_actor(instance, row), row.case_id, action=Action.DISCLOSE,
            purpose=Purpose(row.purpose), fields=names, categories=categories,
            recipient=Recipient(row.recipient), context=context, fulfilled=met,
            victim_request=row.victim_request_id,
        )
    except AccessDenied as exc:
        # Decided again at release time and refused (e.g. consent withdrawn): recorded by
        # access_case; the request is closed with the new reasons.
        _set_status(instance, row.id, DisclosureStatus.DENIED, effect=Effect.DENY.value,
                    rules=" ".join(exc.rules), reasons=json.dumps(list(exc.reasons or
                                                                      (str(exc),))))
        return
    try:
        _store_package(instance, row, access.decision, access.values, access.withheld,
                       access.grant.ledger_index)
    except _FactWithdrawn as exc:
        # She withdrew her consent (or her request) between the decision and the release:
        # the withdrawal wins; nothing was stored, and the ending is a denial on record.
        _refuse_release(instance, row, exc.failure, exc.reason)
    except Exception:
        # Opened but not stored (a vault failure sealing the notice, a key that cannot be
        # written): nothing left the machine, and that ending is a denial on record (I2),
        # not a 500 that leaves an 'allow' as the last word on this release.
        log.exception("disclosure %s could not be stored", row.id)
        record_failure(instance, _requester_actor(instance, row), row.case_id, access.decision,
                       "release_failed", detail={"disclosure": row.id})
        _set_status(instance, row.id, DisclosureStatus.DENIED, effect=Effect.DENY.value,
                    rules="", reasons=json.dumps(["The release could not be completed; "
                                                  "nothing was sent."]))


class _Denied(Exception):
    def __init__(self, decision: Decision) -> None:
        super().__init__("denied")
        self.decision = decision


class _FactWithdrawn(Exception):
    def __init__(self, failure: str, reason: str) -> None:
        super().__init__(reason)
        self.failure = failure
        self.reason = reason


def _facts_still_stand(conn: Connection, row: Any, decision: Decision) -> None:
    """Re-read, under a row lock, the facts from her that the release decision relied on."""
    context = dict(decision.request.get("context") or {})
    recipient, purpose = Recipient(row.recipient), Purpose(row.purpose)
    if context.get("consent") is True and standing_consent_row(
        conn, row.case_id, recipient, purpose, lock=True
    ) is None:
        raise _FactWithdrawn("consent_withdrawn", "She withdrew her consent before the "
                             "release; nothing was sent.")
    if context.get("victim_initiated") is True:
        asked = victim_request_row(conn, row.victim_request_id or "")
        if asked is None or not asked.stands:
            raise _FactWithdrawn("request_withdrawn", "She withdrew her request before the "
                                 "release; nothing was sent.")


def _store_package(
    instance: Instance,
    row: Any,
    decision: Decision,
    values: Mapping[CaseField, str],
    withheld: Mapping[CaseField, str],
    ledger_index: int,
) -> None:
    requester = _requester_actor(instance, row)
    with instance.engine.begin() as conn:
        _facts_still_stand(conn, row, decision)
        # Claim the release first: of two approvals racing, only one stores a package.
        # A request refused or withdrawn meanwhile stays closed: nothing is stored.
        claimed = conn.execute(
            update(disclosure_requests)
            .where(and_(disclosure_requests.c.id == row.id,
                        disclosure_requests.c.status.notin_(
                            [s.value for s in FINAL_STATUSES])))
            .values(status=DisclosureStatus.RELEASED.value)
        )
        if claimed.rowcount != 1:
            return
        case = conn.execute(select(cases).where(cases.c.id == row.case_id)).one()
        body = json.dumps({
            "disclosure": row.id,
            "reference": case.reference,
            "crime_type": case.crime_type,
            "subject_role": case.subject_role,
            "purpose": row.purpose,
            "rules": list(decision.rules),
            "fields": {name.value: text for name, text in values.items()},
            "withheld": {name.value: why for name, why in withheld.items()},
            "ledger_index": ledger_index,
        }, sort_keys=True).encode("utf-8")
        public = ensure_org_key(conn, instance.settings.keys_dir, row.recipient_org_id)
        sealed = seal_package(public, row.id.encode("ascii"), body)
        conn.execute(insert(disclosure_packages).values(
            request_id=row.id, recipient_org_id=row.recipient_org_id,
            ephemeral_public=sealed.ephemeral_public, nonce=sealed.nonce,
            ciphertext=sealed.ciphertext, sha256=hashlib.sha256(sealed.ciphertext).hexdigest(),
            accepted_case_id=None, created_at=_now()))
        if Obligation.NOTIFY_SUBJECT in decision.obligations:
            # Her notice is a write to her case too: decided and recorded with the release.
            noticed, write = decide_write(
                instance, conn, requester, row.case_id,
                purpose=(Purpose.INVESTIGATION if requester.org_kind is OrgKind.POLICE
                         else Purpose.SUPPORT),
                categories=[DataCategory.CASE_NOTES],
                detail={"event": "disclosure_notice", "disclosure": row.id})
            if write is None:  # no notice, no release: the obligation is unmet (fail closed)
                raise AccessDenied("not allowed: she could not be told",
                                   rules=noticed.rules, reasons=noticed.reasons)
            insert_note(write, conn, new_id(), _notice(row), author_id=None,
                        author_kind="system", visible_to_subject=True, now=_now())
        conn.execute(update(disclosure_requests).where(disclosure_requests.c.id == row.id)
                     .values(status=DisclosureStatus.RELEASED.value, release_index=ledger_index,
                             effect=decision.effect.value, rules=" ".join(decision.rules),
                             updated_at=_now()))


def _notice(row: Any) -> str:
    kinds = ", ".join(c.replace("_", " ") for c in row.categories.split())
    return (f"Information from your case ({kinds}) was shared with "
            f"{row.recipient.replace('_', ' ')} for {row.purpose.replace('_', ' ')}. "
            "You can see every access on the 'who has seen my data' page.")


# ---- reading requests (no case data: categories, rules, reasons) -----------------------------


def _view(conn: Connection, row: Any) -> DisclosureView:
    from safereport.store.core import users

    requester = conn.execute(select(users.c.display_name).where(
        users.c.id == row.requester_id)).scalar() or "unknown"
    recipient_org = conn.execute(select(organisations.c.name).where(
        organisations.c.id == row.recipient_org_id)).scalar() or row.recipient
    reference = conn.execute(select(cases.c.reference).where(
        cases.c.id == row.case_id)).scalar() or "(erased)"
    approvers = conn.execute(select(users.c.display_name).join(
        disclosure_approvals, disclosure_approvals.c.approver_id == users.c.id).where(
        disclosure_approvals.c.request_id == row.id)).scalars().all()
    _, outstanding = _fulfilled(conn, row)
    return DisclosureView(
        id=row.id, case_id=row.case_id, reference=reference, requester_id=row.requester_id,
        requester=requester, recipient_org=recipient_org, recipient=Recipient(row.recipient),
        purpose=Purpose(row.purpose),
        categories=tuple(DataCategory(c) for c in row.categories.split()),
        context=json.loads(row.context), effect=Effect(row.effect),
        obligations=tuple(Obligation(o) for o in row.obligations.split()),
        rules=tuple(row.rules.split()), reasons=tuple(json.loads(row.reasons)),
        status=DisclosureStatus(row.status),
        has_justification=row.justification_sealed is not None,
        approvers=tuple(approvers), created_at=row.created_at,
        outstanding=tuple(outstanding) if row.status not in FINAL_STATUSES
        and row.status != DisclosureStatus.SENT_BACK else (),
        events=tuple(_events(conn, request_id=row.id)),
    )


def view_disclosure(instance: Instance, user: StaffUser, request_id: str) -> DisclosureView:
    row = _held_request(instance, user, request_id, "view")
    with instance.engine.connect() as conn:
        return _view(conn, row)


def disclosures_for_case(instance: Instance, user: StaffUser, case_id: str) -> list[DisclosureView]:
    with instance.engine.connect() as conn:
        rows = conn.execute(select(disclosure_requests).where(and_(
            disclosure_requests.c.case_id == case_id,
            disclosure_requests.c.holder_org_id == user.org_id)).order_by(
            disclosure_requests.c.created_at.desc())).all()
        return [_view(conn, row) for row in rows]


def awaiting_approval(instance: Instance, user: StaffUser) -> list[DisclosureView]:
    """Requests of the organisation that wait for a supervisor's approval."""
    with instance.engine.connect() as conn:
        rows = conn.execute(select(disclosure_requests).where(and_(
            disclosure_requests.c.holder_org_id == user.org_id,
            or_(disclosure_requests.c.status == DisclosureStatus.NEEDS_APPROVAL.value,
                disclosure_requests.c.status == DisclosureStatus.NEEDS_JUSTIFICATION.value,
                disclosure_requests.c.status == DisclosureStatus.SENT_BACK.value),
        )).order_by(disclosure_requests.c.created_at)).all()
        return [_view(conn, row) for row in rows]


def justification_text(instance: Instance, user: StaffUser, request_id: str) -> str:
    """The written reason, opened under a guard decision (a view of the case's notes)."""
    row = _held_request(instance, user, request_id, "justification_view")
    if row.justification_sealed is None:
        return ""
    access = access_case(instance, actor_for(user), row.case_id, action=Action.VIEW,
                         purpose=default_purpose(user), fields=[],
                         categories=[DataCategory.CASE_NOTES])
    try:
        with instance.engine.connect() as conn:
            data = open_blob(instance, conn, access.grant, row.case_id,
                             DataCategory.CASE_NOTES, JUSTIFICATION_LABEL + request_id,
                             bytes(row.justification_sealed))
    except VaultError as exc:
        record_failure(instance, actor_for(user), row.case_id, access.decision, "vault_error",
                       detail={"disclosure": request_id})
        raise AccessDenied("access denied: the protected data could not be opened") from exc
    return data.decode("utf-8")


# ---- the recipient's side -------------------------------------------------------------------


@dataclass(frozen=True)
class InboxItem:
    request_id: str
    sender: str
    purpose: Purpose
    categories: tuple[DataCategory, ...]
    received_at: datetime
    accepted_case_id: str | None
    expires_at: datetime
    expired: bool
    #: Only a police force or a support service holds cases; every recipient can read.
    can_take_in: bool
    #: A case handed to this organisation's area (issue 17): take it into casework.
    transfer: bool = False


#: What a recipient may do with a package, by the purpose it was released for. Shown beside
#: every package; the general lines below apply to all.
MAY_DO: dict[Purpose, str] = {
    Purpose.MARAC: "Use it only to prepare and hold the MARAC meeting about her safety and to "
                   "agree the actions of her safety plan; share it only with the meeting's "
                   "members.",
    Purpose.SAFEGUARDING: "Use it only to keep her, or the people named, safe (safeguarding); "
                          "record in your own system only what that needs.",
    Purpose.SUPPORT: "Use it only to support her; contact her only in the ways her safe-"
                     "contact preferences allow.",
    Purpose.INVESTIGATION: "Use it only to investigate the crime against her.",
    Purpose.PROSECUTION: "Use it only to prosecute the crime against her.",
    Purpose.COURT_ORDER: "Use it only for the court proceedings it was ordered for.",
    Purpose.REGULARISATION_SUPPORT: "Use it only for her own application to regularise her "
                                    "stay, which she asked for; never for enforcement.",
}
MAY_DO_ALWAYS = (
    "Do not pass it on to anyone else; ask the sender instead.",
    "Never use it for immigration control, and never pass it to Immigration Enforcement.",
    "It can be read here until it expires; after that, ask the sender if it is still needed.",
)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def package_expiry(instance: Instance, created_at: datetime) -> datetime:
    """When a package released at ``created_at`` expires (the ``package_days`` setting)."""
    return _aware(created_at) + timedelta(days=instance.settings.package_days)


def inbox(instance: Instance, user: StaffUser, *, now: datetime | None = None) -> list[InboxItem]:
    """Packages released to the user's organisation (what, from whom; not the contents)."""
    moment = now or _now()
    with instance.engine.connect() as conn:
        rows = conn.execute(
            select(disclosure_packages, disclosure_requests.c.purpose,
                   disclosure_requests.c.categories, organisations.c.name)
            .join(disclosure_requests, disclosure_requests.c.id == disclosure_packages.c.request_id)
            .join(organisations, organisations.c.id == disclosure_requests.c.holder_org_id)
            .where(disclosure_packages.c.recipient_org_id == user.org_id)
            .order_by(disclosure_packages.c.created_at.desc())
        ).all()
        transfers = set(conn.execute(select(case_transfers.c.request_id).where(
            case_transfers.c.to_org_id == user.org_id)).scalars())
    holds_cases = user.org_kind in (OrgKind.POLICE, OrgKind.SUPPORT_SERVICE)
    items = []
    for r in rows:
        expires = package_expiry(instance, r.created_at)
        items.append(InboxItem(r.request_id, r.name, Purpose(r.purpose),
                               tuple(DataCategory(c) for c in r.categories.split()),
                               _aware(r.created_at), r.accepted_case_id, expires,
                               moment >= expires, holds_cases, r.request_id in transfers))
    return items


class PackageExpired(InvalidInput):
    """A package past its ``package_days``: it opens no more (the attempt is on record)."""


@dataclass(frozen=True)
class PackageView:
    request_id: str
    sender: str
    reference: str
    purpose: Purpose
    recipient: Recipient
    categories: tuple[DataCategory, ...]
    received_at: datetime
    expires_at: datetime
    may_do: tuple[str, ...]
    values: dict[CaseField, str]
    withheld: dict[CaseField, str]
    #: The rules of the decision under which it was opened now, and that decision's entry.
    rules: tuple[str, ...]
    ledger_index: int


def open_released_package(grant: Grant, keys_dir: Any, org_id: str, request_id: str,
                          case_id: str, pkg: Any) -> Any:
    """Open a package with its recipient's key, only under a Grant for that very case.

    The Grant is the proof that the disclosure was decided again just now and that decision
    is committed to the ledger (I1); without one, or with one for another case or for fewer
    kinds of data than the package holds, nothing is opened.
    """
    if not isinstance(grant, Grant) or grant.case_id != case_id:
        raise AccessDenied("access denied: no decision stands behind this opening")
    body = json.loads(open_package(
        keys_dir, org_id, request_id.encode("ascii"),
        SealedPackage(bytes(pkg.ephemeral_public), bytes(pkg.nonce), bytes(pkg.ciphertext))))
    if body.get("disclosure") != request_id:
        raise ValueError("the package names another disclosure")
    held = {FIELD_CATEGORY[CaseField(name)] for name in dict(body["fields"])}
    if not held <= grant.categories:
        raise AccessDenied("access denied: the package holds more than the decision allows")
    return body


def read_package(instance: Instance, user: StaffUser, request_id: str, *,
                 now: datetime | None = None) -> PackageView:
    """Read a package released to the user's organisation, read-only, through the one road.

    The disclosure it came from is decided again by the guard at this moment, as the holder's
    disclosure to this recipient (her consent or request read from the record, the regime of
    today), and recorded in the ledger with who opened it; only with the Grant of that
    committed decision is the package opened. An expired package, one of another
    organisation, one whose source was erased, or one whose disclosure no longer stands opens
    nothing, and each refusal is on record.
    """
    actor = actor_for(user)
    moment = now or _now()
    valid = _REQUEST_ID.fullmatch(request_id) is not None
    with instance.engine.connect() as conn:
        pkg = req = None
        if valid:
            pkg = conn.execute(select(disclosure_packages).where(and_(
                disclosure_packages.c.request_id == request_id,
                disclosure_packages.c.recipient_org_id == user.org_id))).first()
            req = conn.execute(select(disclosure_requests).where(
                disclosure_requests.c.id == request_id)).first()
        if pkg is None or req is None:
            erased = None
        else:
            erased = conn.execute(select(cases.c.erased_at).where(
                cases.c.id == req.case_id)).first()
            sender = conn.execute(select(organisations.c.name).where(
                organisations.c.id == req.holder_org_id)).scalar() or "?"
            met, _ = _fulfilled(conn, req)
    if pkg is None or req is None:
        record_failure(instance, actor, None, None, "package_not_held",
                       detail={"event": "package_open", "disclosure": request_id[:32]})
        raise NotFound("no such package")
    expires = package_expiry(instance, pkg.created_at)
    if moment >= expires:
        record_failure(instance, actor, None, None, "package_expired",
                       detail={"event": "package_open", "disclosure": request_id})
        raise PackageExpired(
            f"This package expired on {expires:%d %b %Y} and can no longer be opened. "
            f"If it is still needed, ask {sender} to send it again.")
    if erased is None or erased.erased_at is not None:
        record_failure(instance, actor, None, None, "source_erased",
                       detail={"event": "package_open", "disclosure": request_id})
        raise InvalidInput("this package can no longer be opened: the person asked for her "
                           "data to be erased")
    categories = frozenset(DataCategory(c) for c in req.categories.split())
    context = {k: v for k, v in json.loads(req.context).items() if k not in _DERIVED_FACTS}
    holder = _requester_actor(instance, req)
    decision, index = decide_and_record(
        instance, holder, req.case_id, action=Action.DISCLOSE, purpose=Purpose(req.purpose),
        categories=categories, recipient=Recipient(req.recipient), context=context,
        victim_request=req.victim_request_id,
        detail={"event": "package_opened", "disclosure": req.id, "opened_by": actor.id,
                "opened_by_org_kind": user.org_kind.value},
    )
    if not decision.allowed:
        raise AccessDenied("this package can no longer be opened: the disclosure it came from "
                           "no longer stands", rules=decision.rules, reasons=decision.reasons)
    try:
        grant = grant_for(instance, decision, index, req.case_id, met)
        body = open_released_package(grant, instance.settings.keys_dir, user.org_id,
                                     request_id, req.case_id, pkg)
        values = {CaseField(k): str(v) for k, v in dict(body["fields"]).items()}
        withheld = {CaseField(k): str(v) for k, v in dict(body.get("withheld") or {}).items()}
    except (AccessDenied, LedgerError, VaultError, ValueError, KeyError, TypeError) as exc:
        record_failure(instance, actor, None, None, "package_unreadable",
                       detail={"event": "package_open", "disclosure": request_id})
        raise AccessDenied("access denied: the package could not be opened") from exc
    purpose = Purpose(req.purpose)
    may_do = tuple(x for x in (MAY_DO.get(purpose),) if x) + MAY_DO_ALWAYS
    return PackageView(
        request_id=request_id, sender=sender, reference=str(body.get("reference", "")),
        purpose=purpose, recipient=Recipient(req.recipient),
        categories=tuple(sorted(categories)), received_at=_aware(pkg.created_at),
        expires_at=expires, may_do=may_do,
        values={f: values[f] for f in FIELD_ORDER if f in values},
        withheld={f: withheld[f] for f in FIELD_ORDER if f in withheld},
        rules=decision.rules, ledger_index=index)


def accept_package(instance: Instance, user: StaffUser, request_id: str) -> str:
    """Open a package sent to the user's organisation into a new case it holds.

    The contents are never shown from the package: they are sealed under the new case's data
    key at once, and read from then on through the guard like any other case. The taking-in is
    itself decided (an ``update`` by the recipient) and recorded.
    """
    if user.org_kind not in (OrgKind.POLICE, OrgKind.SUPPORT_SERVICE):
        raise InvalidInput("only a police force or a support service holds cases here; "
                           "read the package from the inbox instead")
    with instance.engine.connect() as conn:
        pkg = conn.execute(select(disclosure_packages).where(and_(
            disclosure_packages.c.request_id == request_id,
            disclosure_packages.c.recipient_org_id == user.org_id))).first()
        source_erased = conn.execute(
            select(cases.c.erased_at).join(
                disclosure_requests, disclosure_requests.c.case_id == cases.c.id)
            .where(disclosure_requests.c.id == request_id)
        ).first()
    if pkg is None:
        # Another organisation's package, or one destroyed by an erasure: refused on record.
        record_failure(instance, actor_for(user), None, None, "package_not_held",
                       detail={"disclosure": request_id[:32]})
        raise NotFound("no such package")
    if pkg.accepted_case_id is not None:
        return str(pkg.accepted_case_id)
    expires = package_expiry(instance, pkg.created_at)
    if _now() >= expires:
        record_failure(instance, actor_for(user), None, None, "package_expired",
                       detail={"event": "package_accept", "disclosure": request_id})
        raise PackageExpired(f"This package expired on {expires:%d %b %Y} and can no longer "
                             "be taken in.")
    if source_erased is None or source_erased.erased_at is not None:
        record_failure(instance, actor_for(user), None, None, "source_erased",
                       detail={"disclosure": request_id})
        raise InvalidInput("this package can no longer be taken in: the person asked for her "
                           "data to be erased")
    try:
        body = _package_body(instance, user, request_id, pkg)
    except (VaultError, ValueError, KeyError, TypeError) as exc:
        # A package that cannot be opened or is malformed: a denial on record, not a 500.
        record_failure(instance, actor_for(user), None, None, "package_unreadable",
                       detail={"disclosure": request_id})
        raise AccessDenied("access denied: the package could not be opened") from exc
    case_id = _take_in(instance, user, request_id, new_id(), body)
    # A transfer to another area (issue 17) ends at the sender: its case is closed.
    from safereport.services.practice import complete_transfer

    complete_transfer(instance, request_id, case_id, actor_for(user))
    return case_id


def _package_body(instance: Instance, user: StaffUser, request_id: str, pkg: Any) -> Any:
    """The package's record, checked for shape (ValueError/KeyError/TypeError if malformed)."""
    body = json.loads(open_package(
        instance.settings.keys_dir, user.org_id, request_id.encode("ascii"),
        SealedPackage(bytes(pkg.ephemeral_public), bytes(pkg.nonce), bytes(pkg.ciphertext))))
    SubjectRole(body["subject_role"])
    CrimeType(body["crime_type"])
    for name in dict(body["fields"]):
        CaseField(name)
    return body


def _take_in(
    instance: Instance, user: StaffUser, request_id: str, case_id: str, body: Any
) -> str:
    denial: AccessDenied | None = None
    with instance.engine.begin() as conn:
        pkg = conn.execute(select(disclosure_packages.c.accepted_case_id).where(
            disclosure_packages.c.request_id == request_id)).first()
        if pkg is not None and pkg.accepted_case_id is not None:
            return str(pkg.accepted_case_id)
        insert_case(conn, NewCase(
            id=case_id, org_id=user.org_id,
            subject_role=SubjectRole(body["subject_role"]).value,
            crime_type=CrimeType(body["crime_type"]).value, status=CaseStatus.NEW.value,
            intake=IntakeKind.THIRD_PARTY.value, language="en", created_at=_now(),
            assigned_to=user.id, filed_by=user.id))
        values = {CaseField(k): v for k, v in body["fields"].items() if v}
        decision, write = decide_write(
            instance, conn, actor_for(user), case_id, purpose=default_purpose(user),
            categories={FIELD_CATEGORY[k] for k in values} or {DataCategory.CRIME_DETAILS},
            detail={"event": "disclosure_accepted", "disclosure": request_id})
        if write is not None:
            write.create_key()
            write.seal_fields(values)
            conn.execute(update(disclosure_packages).where(
                disclosure_packages.c.request_id == request_id).values(accepted_case_id=case_id))
        else:
            remove_case(conn, case_id)
            denial = AccessDenied("not allowed", rules=decision.rules, reasons=decision.reasons)
    if denial is not None:
        raise denial
    return case_id


def consent_on_record(instance: Instance, case_id: str, recipient: Recipient,
                      purpose: Purpose) -> bool:
    """Whether the person's express consent to this recipient and purpose stands (shown on
    the form; the guard reads it from the record itself)."""
    with instance.engine.connect() as conn:
        return active_consent(conn, case_id, recipient, purpose)




# ---- asks: another organisation (police liaison) asks a holder to consider a disclosure ------


@dataclass(frozen=True)
class AskView:
    id: str
    from_org: str
    to_org: str
    reference: str
    purpose: Purpose
    categories: tuple[DataCategory, ...]
    status: str
    request_id: str | None
    case_id: str | None  # only for the holder, and only if the reference is one of theirs
    from_org_id: str
    created_at: datetime
    #: The outcome in plain words, for both sides: what became of the ask, and why.
    outcome: str = ""
    reasons: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status == "open"


def ask_for_disclosure(
    instance: Instance,
    user: StaffUser,
    *,
    holder_org_id: str,
    reference: str,
    purpose: Purpose,
    categories: Iterable[DataCategory],
) -> str:
    """Ask ``holder_org_id`` to consider disclosing a case (by the reference the person gave).

    No case data moves and nothing is decided here: the holder's staff decide through the
    ordinary workflow, with the asker's organisation as recipient. Whether the reference
    exists is not revealed to the asker.
    """
    wanted = sorted({DataCategory(c) for c in categories} - {DataCategory.AGGREGATE})
    if not wanted:
        raise InvalidInput("choose at least one kind of data")
    from safereport.services.casework import canonical_reference

    try:
        cleaned = canonical_reference(reference)
    except InvalidInput as exc:
        raise InvalidInput("give the case reference the person gave you") from exc
    if len(cleaned) > 32:
        raise InvalidInput("give the case reference the person gave you")
    ask_id = new_id()
    with instance.engine.begin() as conn:
        holder = conn.execute(select(organisations.c.kind).where(
            organisations.c.id == holder_org_id)).scalar()
        if holder is None or holder_org_id == user.org_id:
            raise InvalidInput("choose the organisation that holds the case")
        conn.execute(insert(disclosure_asks).values(
            id=ask_id, from_org_id=user.org_id, from_user_id=user.id, to_org_id=holder_org_id,
            reference=cleaned, purpose=Purpose(purpose).value,
            categories=" ".join(c.value for c in wanted), status="open", request_id=None,
            created_at=_now()))
    return ask_id


def _ask_view(conn: Connection, row: Any, *, holder: bool) -> AskView:
    names = dict(conn.execute(select(organisations.c.id, organisations.c.name).where(
        organisations.c.id.in_([row.from_org_id, row.to_org_id]))).all())
    case_id = None
    if holder:
        case_id = conn.execute(select(cases.c.id).where(and_(
            cases.c.reference == row.reference, cases.c.org_id == row.to_org_id,
            cases.c.erased_at.is_(None)))).scalar()
    outcome, reasons = _ask_outcome(conn, row, names.get(row.to_org_id, "?"))
    return AskView(row.id, names.get(row.from_org_id, "?"), names.get(row.to_org_id, "?"),
                   row.reference, Purpose(row.purpose),
                   tuple(DataCategory(c) for c in row.categories.split()), row.status,
                   row.request_id, case_id, row.from_org_id, row.created_at, outcome, reasons)


def _ask_outcome(conn: Connection, row: Any, holder: str) -> tuple[str, tuple[str, ...]]:
    """What became of an ask, in words the asker can act on (no case data: the policy's
    plain reasons and the reason a person wrote for the asker)."""
    if row.status == "declined":
        return f"Declined by {holder}.", tuple(e.reason for e in _events(conn, ask_id=row.id))
    if row.request_id is None:
        return f"Waiting: {holder} has not decided yet.", ()
    req = conn.execute(select(disclosure_requests.c.status, disclosure_requests.c.reasons)
                       .where(disclosure_requests.c.id == row.request_id)).first()
    if req is None:
        return f"Waiting: {holder} has not decided yet.", ()
    status = DisclosureStatus(req.status)
    said = tuple(e.reason for e in _events(conn, request_id=row.request_id)
                 if e.kind in (EventKind.REFUSED, EventKind.WITHDRAWN))
    if status is DisclosureStatus.RELEASED:
        return "Released: the package is in your inbox.", ()
    if status is DisclosureStatus.DENIED:
        return ("Refused under the policy: nothing was sent.",
                tuple(json.loads(req.reasons)))
    if status is DisclosureStatus.REFUSED:
        return f"Refused by a supervisor at {holder}: nothing was sent.", said
    if status is DisclosureStatus.WITHDRAWN:
        return f"Withdrawn by {holder}: nothing was sent.", said
    return (f"Being decided by {holder}: it waits for a justification, a second "
            "supervisor or a notice to the person.", ())


def asks(instance: Instance, user: StaffUser) -> tuple[list[AskView], list[AskView]]:
    """(asks received by the user's organisation, asks it has sent)."""
    with instance.engine.connect() as conn:
        received = conn.execute(select(disclosure_asks).where(
            disclosure_asks.c.to_org_id == user.org_id).order_by(
            disclosure_asks.c.created_at.desc())).all()
        sent = conn.execute(select(disclosure_asks).where(
            disclosure_asks.c.from_org_id == user.org_id).order_by(
            disclosure_asks.c.created_at.desc())).all()
        return ([_ask_view(conn, r, holder=True) for r in received],
                [_ask_view(conn, r, holder=False) for r in sent])


def decline_ask(instance: Instance, user: StaffUser, ask_id: str, reason: str) -> None:
    """The holder declines an open ask without a disclosure, with a reason for the asker.

    The refusal is on record; the asker sees "Declined" and the reason (never whether the
    reference exists, unless the reason says so).
    """
    text = _reason(reason, "for declining")
    actor = actor_for(user)
    with instance.engine.connect() as conn:
        row = conn.execute(select(disclosure_asks).where(and_(
            disclosure_asks.c.id == ask_id, disclosure_asks.c.to_org_id == user.org_id))).first()
    if row is None:
        record_failure(instance, actor, None, None, "ask_not_held",
                       detail={"event": "ask_decline"})
        raise NotFound("no such ask")
    # On record first: an ask is never closed without its entry (I2).
    record_failure(instance, actor, None, None, "ask_declined",
                   detail={"event": "ask_decline", "ask": ask_id})
    with instance.engine.begin() as conn:
        changed = conn.execute(update(disclosure_asks).where(and_(
            disclosure_asks.c.id == ask_id, disclosure_asks.c.status == "open")).values(
            status="declined"))
        if changed.rowcount == 1:
            conn.execute(insert(disclosure_events).values(
                id=new_id(), request_id=None, ask_id=ask_id,
                kind=EventKind.ASK_DECLINED.value, user_id=user.id, reason=text,
                created_at=_now()))
    if changed.rowcount != 1:
        record_failure(instance, actor, None, None, "ask_decline_refused",
                       detail={"event": "ask_decline", "ask": ask_id})
        raise InvalidInput("this ask has been answered already")


def answer_ask(instance: Instance, user: StaffUser, ask_id: str, form: DisclosureForm) -> str:
    """Decide an ask through the ordinary workflow; the ask records the request it became.

    The answer is bound to the ask: the case whose reference was asked about, the organisation
    that asked, and at most the kinds of data asked for. Anything else is refused on record.
    """
    with instance.engine.connect() as conn:
        row = conn.execute(select(disclosure_asks).where(and_(
            disclosure_asks.c.id == ask_id, disclosure_asks.c.to_org_id == user.org_id))).first()
        asked_case = None if row is None else conn.execute(select(cases.c.id).where(and_(
            cases.c.reference == row.reference, cases.c.org_id == user.org_id,
            cases.c.erased_at.is_(None)))).scalar()
    if row is None:
        record_failure(instance, actor_for(user), None, None, "ask_not_held",
                       detail={"event": "ask_answer"})
        raise NotFound("no such ask")
    refusal = None
    if form.recipient_org_id != row.from_org_id:
        refusal = "an answer to an ask goes to the organisation that asked"
    elif row.status != "open":
        refusal = "this ask has been answered already"
    elif asked_case is None or form.case_id != asked_case:
        refusal = "an answer to an ask is about the case that was asked about"
    elif not form.categories <= {DataCategory(c) for c in row.categories.split()}:
        refusal = "an answer to an ask sends at most the kinds of data that were asked for"
    if refusal is not None:
        record_failure(instance, actor_for(user), form.case_id, None, "ask_answer_refused",
                       detail={"event": "ask_answer", "ask": ask_id})
        raise InvalidInput(refusal)
    request_id = request_disclosure(instance, user, form)
    with instance.engine.begin() as conn:
        conn.execute(update(disclosure_asks).where(disclosure_asks.c.id == ask_id).values(
            status="answered", request_id=request_id))
    return request_id
