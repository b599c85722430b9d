"""Asking for a disclosure and the steps that move a request: justify, approve, or end it.

1. A request (recipient organisation, purpose, data categories, the POLICY.md context facts,
   optionally a written justification) is decided by the guard and recorded in the ledger
   whatever the answer. A denial is stored with its rule ids and reasons; nothing is released.
2. Obligations are enforced, not displayed: ``record_justification`` waits for a written
   reason (sealed under the case's data key); ``supervisor_approval`` waits for a supervisor
   of the holding organisation, other than the person who asked. Once nothing is owed, the
   request is released (:mod:`.release`).
3. An approver may refuse a waiting request or send it back, and the person who asked may
   withdraw it: each with a reason, kept with the request and recorded in the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum

from sqlalchemy import Connection

from safereport.domain.case import new_id
from safereport.domain.vocabulary import (
    Action,
    ActorRole,
    DataCategory,
    OrgKind,
    Purpose,
    Recipient,
)
from safereport.errors import AccessDenied, InvalidInput, VaultError
from safereport.policy.decision import Decision
from safereport.services.access import (
    Write,
    decide_and_record,
    decide_write,
    record_failure,
    writer,
)
from safereport.services.auth import StaffUser
from safereport.services.casework import (
    CaseNotHeld,
    actor_for,
    default_purpose,
    record_not_held,
)
from safereport.services.disclosure.forms import MAX_JUSTIFICATION_CHARS, DisclosureForm
from safereport.services.disclosure.release import _advance
from safereport.services.disclosure.workflow import (
    _CLOSED,
    FINAL_STATUSES,
    JUSTIFICATION_LABEL,
    DisclosureStatus,
    EventKind,
    _held_request,
    _now,
    _plain_status,
    _reason,
    _record_refusal,
    _request_row,
)
from safereport.services.instance import Instance
from safereport.store.disclosures import (
    NewEvent,
    NewRequest,
    RequestRow,
    case_holder,
    insert_approval,
    insert_event,
    insert_request,
    move_status,
    organisation_kind,
    set_justification_if_open,
)

__all__ = [
    "add_justification",
    "approve",
    "refuse",
    "request_disclosure",
    "send_back",
    "withdraw",
]


class _UnknownRecipient(InvalidInput):
    def __init__(self) -> None:
        super().__init__("choose who receives the data")


def _recipient_of(conn: Connection, org_id: str) -> Recipient:
    kind = organisation_kind(conn, org_id)
    try:
        return Recipient(OrgKind(str(kind)).value)
    except ValueError as exc:
        raise _UnknownRecipient() from exc


def _own_case(conn: Connection, user: StaffUser, case_id: str) -> None:
    held = case_holder(conn, case_id)
    if held is None or held.org_id != user.org_id or held.erased:
        raise CaseNotHeld()


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
        insert_request(conn, _new_request(user, form, request_id, recipient, decision,
                                          index, sealed))
    return decision


def _new_request(user: StaffUser, form: DisclosureForm, request_id: str, recipient: Recipient,
                 decision: Decision, index: int, sealed: bytes | None) -> NewRequest:
    return NewRequest(
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
        created_at=_now(), updated_at=_now())


def _seal_justification(write: Write, request_id: str, text: str) -> bytes:
    return write.seal_blob(DataCategory.CASE_NOTES, JUSTIFICATION_LABEL + request_id,
                           text.encode("utf-8"))


# ---- the justification ----------------------------------------------------------------------


class _Raced(Exception):
    """The request changed between reading it and writing its next step."""


class _Denied(Exception):
    def __init__(self, decision: Decision) -> None:
        super().__init__("denied")
        self.decision = decision


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
        _write_justification(instance, user, row, body)
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


def _write_justification(instance: Instance, user: StaffUser, row: RequestRow,
                         body: str) -> None:
    with instance.engine.begin() as conn:
        # Writing the reason is a write to her case: decided and recorded with it.
        decision, write = decide_write(
            instance, conn, actor_for(user), row.case_id, purpose=default_purpose(user),
            categories=[DataCategory.CASE_NOTES],
            detail={"event": "justification_added", "disclosure": row.id})
        if write is None:
            raise _Denied(decision)
        sealed = _seal_justification(write, row.id, body)
        if not set_justification_if_open(conn, row.id, sealed, closed=_CLOSED, now=_now()):
            raise _Raced()
        if row.status == DisclosureStatus.SENT_BACK:
            # Sent again after an approver sent it back: on record, and in its history.
            _record_step(instance, conn, user, row, EventKind.RESUBMITTED,
                         "A new justification was written.")


# ---- approval -------------------------------------------------------------------------------


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
                insert_approval(conn, request_id, approver.id, _now())
    if row is None:
        _held_request(instance, approver, request_id, "approval")  # records, then raises
    elif refusal is not None:
        _record_refusal(instance, approver, row, "approval_refused")
        raise InvalidInput(refusal)
    _advance(instance, request_id)


def _approval_refusal(approver: StaffUser, row: RequestRow) -> str | None:
    if row.status != DisclosureStatus.NEEDS_APPROVAL:
        return "this request is not waiting for approval"
    # The obligation is defined by who may meet it: a second, different supervisor.
    if approver.role is not ActorRole.SUPERVISOR:
        return "only a supervisor can approve a disclosure"
    if approver.id == row.requester_id:
        return "a second supervisor, not the one who asked, must approve"
    return None


# ---- the ends of the workflow: refuse, send back, withdraw (each with a reason, on record) ---


def _record_step(instance: Instance, conn: Connection, user: StaffUser, row: RequestRow,
                 kind: EventKind, reason: str) -> None:
    """Keep one end of the workflow, and its ledger entry, in the caller's transaction.

    The entry is the guard's answer to the disclosure with the step stated as a fact the
    policy does not know, so it is a denial naming the step: "this disclosure was refused
    (or sent back, or withdrawn) by this person", committed with the change it records.
    """
    insert_event(conn, NewEvent(
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
                refusal_of: Callable[[RequestRow], str | None], to: DisclosureStatus,
                kind: EventKind, reason: str) -> None:
    row = _held_request(instance, user, request_id, event)
    refusal = refusal_of(row)
    if refusal is None:
        try:
            with instance.engine.begin() as conn:
                if not move_status(conn, request_id, from_status=row.status,
                                   to_status=to.value, now=_now()):
                    raise _Raced()
                _record_step(instance, conn, user, row, kind, reason)
            return
        except _Raced:
            refusal = "this request changed meanwhile; look at it again"
    _record_refusal(instance, user, row, f"{event}_refused")
    raise InvalidInput(refusal)


def _approver_refusal(approver: StaffUser, row: RequestRow, *,
                      waiting: frozenset[str]) -> str | None:
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

    def refusal_of(row: RequestRow) -> str | None:
        if row.requester_id != user.id:
            return "only the person who asked can withdraw a request"
        if row.status in FINAL_STATUSES:
            return f"this request is {_plain_status(row.status)} already"
        return None

    _close_step(instance, user, request_id, event="withdrawal", refusal_of=refusal_of,
                to=DisclosureStatus.WITHDRAWN, kind=EventKind.WITHDRAWN, reason=text)
