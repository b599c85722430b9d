"""The holding organisation's views of its requests: lists, one request with its history, and
the written justification (opened under a decision of its own).

A request's view holds no case data: categories, rules, reasons, who asked and who approved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from safereport.domain.vocabulary import (
    Action,
    DataCategory,
    Effect,
    Obligation,
    Purpose,
    Recipient,
)
from safereport.errors import AccessDenied, VaultError
from safereport.services.access import access_case, open_blob, record_failure
from safereport.services.auth import StaffUser
from safereport.services.casework import actor_for, default_purpose
from safereport.services.disclosure.workflow import (
    FINAL_STATUSES,
    JUSTIFICATION_LABEL,
    DisclosureStatus,
    WorkflowEvent,
    _fulfilled,
    _held_request,
    _request_events,
)
from safereport.services.instance import Instance
from safereport.store.disclosures import (
    RequestRow,
    approver_names,
    case_reference,
    organisation_name,
    requests_for_case,
    requests_with_status,
    user_display_name,
)

__all__ = [
    "DisclosureView",
    "awaiting_approval",
    "disclosures_for_case",
    "disclosures_in",
    "justification_text",
    "view_disclosure",
]


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


def _view(conn: Connection, row: RequestRow) -> DisclosureView:
    requester = user_display_name(conn, row.requester_id) or "unknown"
    recipient_org = organisation_name(conn, row.recipient_org_id) or row.recipient
    reference = case_reference(conn, row.case_id) or "(erased)"
    approvers = approver_names(conn, row.id)
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
        events=tuple(_request_events(conn, row.id)),
    )


def view_disclosure(instance: Instance, user: StaffUser, request_id: str) -> DisclosureView:
    row = _held_request(instance, user, request_id, "view")
    with instance.engine.connect() as conn:
        return _view(conn, row)


def disclosures_for_case(instance: Instance, user: StaffUser, case_id: str) -> list[DisclosureView]:
    with instance.engine.connect() as conn:
        return disclosures_in(conn, user, case_id)


def disclosures_in(conn: Connection, user: StaffUser, case_id: str) -> list[DisclosureView]:
    """:func:`disclosures_for_case` through an open connection (the case page lends its own)."""
    return [_view(conn, row) for row in requests_for_case(conn, case_id, user.org_id)]


#: What waits on a supervisor of the holding organisation.
_AWAITING = (DisclosureStatus.NEEDS_APPROVAL.value,
             DisclosureStatus.NEEDS_JUSTIFICATION.value,
             DisclosureStatus.SENT_BACK.value)


def awaiting_approval(instance: Instance, user: StaffUser) -> list[DisclosureView]:
    """Requests of the organisation that wait for a supervisor's approval."""
    with instance.engine.connect() as conn:
        rows = requests_with_status(conn, user.org_id, _AWAITING)
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
