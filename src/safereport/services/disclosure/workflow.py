"""Where a disclosure request stands: its statuses, its recorded ends, what it still owes.

Shared by the steps that move a request (:mod:`.requests`, :mod:`.release`), the holder's
views of it (:mod:`.views`) and the recipient's side (:mod:`.recipient`, :mod:`.asking`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Connection

from safereport.domain.case import IntakeKind
from safereport.domain.vocabulary import Action, DataCategory, Obligation, Purpose, Recipient
from safereport.errors import InvalidInput, NotFound
from safereport.services.access import Actor, decide_and_record, record_failure
from safereport.services.auth import StaffUser, get_user
from safereport.services.casework import actor_for
from safereport.services.instance import Instance
from safereport.store.disclosures import (
    EventRow,
    RequestRow,
    approved_by_another_supervisor,
    ask_events,
    case_door,
    request_events,
    request_row,
)

__all__ = [
    "EVENT_LABELS",
    "FINAL_STATUSES",
    "JUSTIFICATION_LABEL",
    "MAX_REASON_CHARS",
    "DisclosureStatus",
    "EventKind",
    "WorkflowEvent",
]

JUSTIFICATION_LABEL = "disclosure-justification:"
_OBLIGATIONS_WE_FULFIL = frozenset({Obligation.NOTIFY_SUBJECT})


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
#: The same, as stored.
_CLOSED = frozenset(s.value for s in FINAL_STATUSES)


def _now() -> datetime:
    return datetime.now(UTC)


def _plain_status(status: str) -> str:
    return str(status).replace("_", " ")


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


def _reason(text: str, what: str) -> str:
    body = " ".join(text.split())
    if not body:
        raise InvalidInput(f"write the reason {what}: the person who asked will read it")
    if len(body) > MAX_REASON_CHARS:
        raise InvalidInput(f"a reason holds at most {MAX_REASON_CHARS} characters")
    return body


def _workflow_events(rows: list[EventRow]) -> list[WorkflowEvent]:
    return [WorkflowEvent(EventKind(r.kind), r.by, r.reason, r.created_at) for r in rows]


def _request_events(conn: Connection, request_id: str) -> list[WorkflowEvent]:
    return _workflow_events(request_events(conn, request_id))


def _ask_events(conn: Connection, ask_id: str) -> list[WorkflowEvent]:
    return _workflow_events(ask_events(conn, ask_id))


# ---- finding a request, and refusing a step on it -------------------------------------------


def _held_request(instance: Instance, user: StaffUser, request_id: str,
                  event: str) -> RequestRow:
    """The organisation's request, or a denial on record and "no such disclosure request"."""
    with instance.engine.connect() as conn:
        row = _request_row(conn, user, request_id)
    if row is None:
        record_failure(instance, actor_for(user), None, None, "disclosure_not_held",
                       detail={"event": event})
        raise NotFound("no such disclosure request")
    return row


def _request_row(conn: Connection, user: StaffUser, request_id: str) -> RequestRow | None:
    """The request if the user's organisation holds it, else None (see :func:`_held_request`)."""
    row = request_row(conn, request_id)
    if row is None or row.holder_org_id != user.org_id:
        return None
    return row


def _record_refusal(instance: Instance, user: StaffUser, row: RequestRow, event: str) -> None:
    """Commit a denial for a refused step of the workflow on this request's case."""
    # The stated fact is unknown to the policy, so the guard denies; the entry names the step.
    decide_and_record(
        instance, actor_for(user), row.case_id, action=Action.DISCLOSE,
        purpose=Purpose(row.purpose),
        categories=[DataCategory(c) for c in row.categories.split()],
        recipient=Recipient(row.recipient), context={event: True},
        detail={"event": event, "disclosure": row.id},
    )


def _requester_actor(instance: Instance, row: RequestRow) -> Actor:
    with instance.engine.connect() as conn:
        requester = get_user(conn, row.requester_id)
    if requester is None:
        raise InvalidInput("the person who asked no longer has an account")
    return actor_for(requester)


# ---- what a request still owes --------------------------------------------------------------


class _Door(StrEnum):
    """Whether the subject can read a notice on her return page."""

    NEVER = "never"  # no door and none can come (an anonymous report)
    OPEN = "open"
    PENDING = "pending"  # an unclaimed third-party report: a door once she claims it


def _door(conn: Connection, case_id: str) -> _Door:
    door = case_door(conn, case_id)
    if door is None:
        return _Door.NEVER
    if door.has_codename:
        return _Door.OPEN
    if door.intake == IntakeKind.THIRD_PARTY.value and door.has_claim_code:
        return _Door.PENDING
    return _Door.NEVER


_DOOR_PENDING = ("telling her (notify_subject): she cannot read a notice until she claims "
                 "her report with its claim code")


def _fulfilled(conn: Connection, row: RequestRow) -> tuple[frozenset[Obligation], list[str]]:
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
        if approved_by_another_supervisor(conn, row):
            met.add(Obligation.SUPERVISOR_APPROVAL)
        else:
            outstanding.append("approval by a second, different supervisor (supervisor_approval)")
    return frozenset(met), outstanding
