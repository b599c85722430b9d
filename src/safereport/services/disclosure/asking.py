"""Asks: another organisation (a police liaison) asks a holder to consider a disclosure.

An ask carries no case data: a reference the person gave, a purpose and kinds of data. The
holder's staff decline it with a reason, or answer it through the ordinary workflow with the
asking organisation as recipient; the asker sees what became of it, and why.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from safereport.domain.case import new_id
from safereport.domain.vocabulary import DataCategory, Purpose
from safereport.errors import InvalidInput, NotFound
from safereport.services.access import record_failure
from safereport.services.auth import StaffUser
from safereport.services.casework import actor_for
from safereport.services.disclosure.forms import DisclosureForm
from safereport.services.disclosure.requests import request_disclosure
from safereport.services.disclosure.workflow import (
    DisclosureStatus,
    EventKind,
    _ask_events,
    _now,
    _reason,
    _request_events,
)
from safereport.services.instance import Instance
from safereport.store.disclosures import (
    AskRow,
    NewAsk,
    NewEvent,
    asks_from,
    asks_to,
    case_id_by_reference,
    close_open_ask,
    held_ask,
    insert_ask,
    insert_event,
    mark_ask_answered,
    organisation_kind,
    organisation_names,
    request_state,
)

__all__ = ["AskView", "answer_ask", "ask_for_disclosure", "asks", "decline_ask"]


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
        holder = organisation_kind(conn, holder_org_id)
        if holder is None or holder_org_id == user.org_id:
            raise InvalidInput("choose the organisation that holds the case")
        insert_ask(conn, NewAsk(
            id=ask_id, from_org_id=user.org_id, from_user_id=user.id, to_org_id=holder_org_id,
            reference=cleaned, purpose=Purpose(purpose).value,
            categories=" ".join(c.value for c in wanted), created_at=_now()))
    return ask_id


def _ask_view(conn: Connection, row: AskRow, *, holder: bool) -> AskView:
    names = organisation_names(conn, [row.from_org_id, row.to_org_id])
    case_id = None
    if holder:
        case_id = case_id_by_reference(conn, row.reference, row.to_org_id)
    outcome, reasons = _ask_outcome(conn, row, names.get(row.to_org_id, "?"))
    return AskView(row.id, names.get(row.from_org_id, "?"), names.get(row.to_org_id, "?"),
                   row.reference, Purpose(row.purpose),
                   tuple(DataCategory(c) for c in row.categories.split()), row.status,
                   row.request_id, case_id, row.from_org_id, row.created_at, outcome, reasons)


def _ask_outcome(conn: Connection, row: AskRow, holder: str) -> tuple[str, tuple[str, ...]]:
    """What became of an ask, in words the asker can act on (no case data: the policy's
    plain reasons and the reason a person wrote for the asker)."""
    if row.status == "declined":
        return f"Declined by {holder}.", tuple(e.reason for e in _ask_events(conn, row.id))
    if row.request_id is None:
        return f"Waiting: {holder} has not decided yet.", ()
    req = request_state(conn, row.request_id)
    if req is None:
        return f"Waiting: {holder} has not decided yet.", ()
    status = DisclosureStatus(req.status)
    said = tuple(e.reason for e in _request_events(conn, row.request_id)
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
        received = asks_to(conn, user.org_id)
        sent = asks_from(conn, user.org_id)
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
        row = held_ask(conn, ask_id, user.org_id)
    if row is None:
        record_failure(instance, actor, None, None, "ask_not_held",
                       detail={"event": "ask_decline"})
        raise NotFound("no such ask")
    # On record first: an ask is never closed without its entry (I2).
    record_failure(instance, actor, None, None, "ask_declined",
                   detail={"event": "ask_decline", "ask": ask_id})
    with instance.engine.begin() as conn:
        declined = close_open_ask(conn, ask_id, "declined")
        if declined:
            insert_event(conn, NewEvent(
                id=new_id(), request_id=None, ask_id=ask_id,
                kind=EventKind.ASK_DECLINED.value, user_id=user.id, reason=text,
                created_at=_now()))
    if not declined:
        record_failure(instance, actor, None, None, "ask_decline_refused",
                       detail={"event": "ask_decline", "ask": ask_id})
        raise InvalidInput("this ask has been answered already")


def answer_ask(instance: Instance, user: StaffUser, ask_id: str, form: DisclosureForm) -> str:
    """Decide an ask through the ordinary workflow; the ask records the request it became.

    The answer is bound to the ask: the case whose reference was asked about, the organisation
    that asked, and at most the kinds of data asked for. Anything else is refused on record.
    """
    with instance.engine.connect() as conn:
        row = held_ask(conn, ask_id, user.org_id)
        asked_case = None if row is None else case_id_by_reference(
            conn, row.reference, user.org_id)
    if row is None:
        record_failure(instance, actor_for(user), None, None, "ask_not_held",
                       detail={"event": "ask_answer"})
        raise NotFound("no such ask")
    refusal = _answer_refusal(row, asked_case, form)
    if refusal is not None:
        record_failure(instance, actor_for(user), form.case_id, None, "ask_answer_refused",
                       detail={"event": "ask_answer", "ask": ask_id})
        raise InvalidInput(refusal)
    request_id = request_disclosure(instance, user, form)
    with instance.engine.begin() as conn:
        mark_ask_answered(conn, ask_id, request_id)
    return request_id


def _answer_refusal(row: AskRow, asked_case: str | None, form: DisclosureForm) -> str | None:
    if form.recipient_org_id != row.from_org_id:
        return "an answer to an ask goes to the organisation that asked"
    if row.status != "open":
        return "this ask has been answered already"
    if asked_case is None or form.case_id != asked_case:
        return "an answer to an ask is about the case that was asked about"
    if not form.categories <= {DataCategory(c) for c in row.categories.split()}:
        return "an answer to an ask sends at most the kinds of data that were asked for"
    return None
