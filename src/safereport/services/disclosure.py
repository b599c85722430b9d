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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from safereport.domain.case import CaseStatus, IntakeKind, new_id
from safereport.domain.fields import FIELD_CATEGORY, CaseField
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
from safereport.errors import AccessDenied, InvalidInput, VaultError
from safereport.policy.decision import Decision
from safereport.services.access import (
    Actor,
    access_case,
    active_consent,
    decide_and_record,
    record_failure,
)
from safereport.services.auth import StaffUser, get_user
from safereport.services.casework import CaseNotHeld, actor_for, insert_note, record_not_held
from safereport.services.disclosure_seal import (
    SealedPackage,
    ensure_org_key,
    open_package,
    seal_package,
)
from safereport.services.instance import Instance
from safereport.store.core import cases, organisations, reports, subjects
from safereport.store.provenance import standing_consent_row, victim_request_row
from safereport.store.staff import (
    disclosure_approvals,
    disclosure_asks,
    disclosure_packages,
    disclosure_requests,
)

__all__ = [
    "CONTEXT_FLAGS",
    "AskView",
    "DisclosureForm",
    "DisclosureStatus",
    "DisclosureView",
    "accept_package",
    "add_justification",
    "answer_ask",
    "approve",
    "ask_for_disclosure",
    "asks",
    "awaiting_approval",
    "disclosures_for_case",
    "inbox",
    "parse_disclosure_form",
    "recipient_organisations",
    "release_waiting",
    "request_disclosure",
    "view_disclosure",
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
            sealed = _seal_justification(instance, conn, form.case_id, request_id,
                                         form.justification)
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


def _seal_justification(
    instance: Instance, conn: Connection, case_id: str, request_id: str, text: str
) -> bytes:
    return instance.vault.seal_blob(
        conn, case_id, DataCategory.CASE_NOTES, JUSTIFICATION_LABEL + request_id,
        text.encode("utf-8"),
    )


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
    elif row.status in (DisclosureStatus.DENIED, DisclosureStatus.RELEASED):
        refusal = f"this request is {row.status} already"
    if refusal is not None:
        _record_refusal(instance, user, row, "justification_refused")
        raise InvalidInput(refusal)
    try:
        with instance.engine.begin() as conn:
            sealed = _seal_justification(instance, conn, row.case_id, request_id, body)
            conn.execute(update(disclosure_requests).where(disclosure_requests.c.id == request_id)
                         .values(justification_sealed=sealed, updated_at=_now()))
    except VaultError as exc:
        record_failure(instance, actor_for(user), row.case_id, None, "vault_error",
                       detail={"event": "justification", "disclosure": request_id})
        raise AccessDenied("access denied: the protected data could not be sealed") from exc
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
        raise InvalidInput("no such disclosure request")
    return row


def _request_row(conn: Connection, user: StaffUser, request_id: str) -> Any:
    """The request if the user's organisation holds it, else None (see :func:`_held_request`)."""
    row = conn.execute(
        select(disclosure_requests).where(disclosure_requests.c.id == request_id)
    ).first()
    if row is None or row.holder_org_id != user.org_id:
        return None
    return row


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
    with instance.engine.begin() as conn:
        conn.execute(update(disclosure_requests).where(disclosure_requests.c.id == request_id)
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
    with instance.engine.begin() as conn:
        _facts_still_stand(conn, row, decision)
        # Claim the release first: of two approvals racing, only one stores a package.
        claimed = conn.execute(
            update(disclosure_requests)
            .where(and_(disclosure_requests.c.id == row.id,
                        disclosure_requests.c.status != DisclosureStatus.RELEASED.value))
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
            insert_note(instance, conn, row.case_id, new_id(), _notice(row), author_id=None,
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
        outstanding=tuple(outstanding) if row.status not in (
            DisclosureStatus.DENIED, DisclosureStatus.RELEASED) else (),
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
                disclosure_requests.c.status == DisclosureStatus.NEEDS_JUSTIFICATION.value),
        )).order_by(disclosure_requests.c.created_at)).all()
        return [_view(conn, row) for row in rows]


def justification_text(instance: Instance, user: StaffUser, request_id: str) -> str:
    """The written reason, opened under a guard decision (a view of the case's notes)."""
    from safereport.services.casework import default_purpose

    row = _held_request(instance, user, request_id, "justification_view")
    if row.justification_sealed is None:
        return ""
    access = access_case(instance, actor_for(user), row.case_id, action=Action.VIEW,
                         purpose=default_purpose(user), fields=[],
                         categories=[DataCategory.CASE_NOTES])
    try:
        with instance.engine.connect() as conn:
            data = instance.vault.open_blob(conn, access.grant, row.case_id,
                                            DataCategory.CASE_NOTES,
                                            JUSTIFICATION_LABEL + request_id,
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


def inbox(instance: Instance, user: StaffUser) -> list[InboxItem]:
    """Packages released to the user's organisation (what, from whom; not the contents)."""
    with instance.engine.connect() as conn:
        rows = conn.execute(
            select(disclosure_packages, disclosure_requests.c.purpose,
                   disclosure_requests.c.categories, organisations.c.name)
            .join(disclosure_requests, disclosure_requests.c.id == disclosure_packages.c.request_id)
            .join(organisations, organisations.c.id == disclosure_requests.c.holder_org_id)
            .where(disclosure_packages.c.recipient_org_id == user.org_id)
            .order_by(disclosure_packages.c.created_at.desc())
        ).all()
    return [InboxItem(r.request_id, r.name, Purpose(r.purpose),
                      tuple(DataCategory(c) for c in r.categories.split()), r.created_at,
                      r.accepted_case_id) for r in rows]


def accept_package(instance: Instance, user: StaffUser, request_id: str) -> str:
    """Open a package sent to the user's organisation into a new case it holds.

    The contents are never shown from the package: they are sealed under the new case's data
    key at once, and read from then on through the guard like any other case. The taking-in is
    itself decided (an ``update`` by the recipient) and recorded.
    """
    if user.org_kind not in (OrgKind.POLICE, OrgKind.SUPPORT_SERVICE):
        raise InvalidInput("only a police force or a support service holds cases here")
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
        raise InvalidInput("no such package")
    if pkg.accepted_case_id is not None:
        return str(pkg.accepted_case_id)
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
    return _take_in(instance, user, request_id, new_id(), body)


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
    from safereport.services.intake import _unused_reference

    denial: AccessDenied | None = None
    with instance.engine.begin() as conn:
        pkg = conn.execute(select(disclosure_packages.c.accepted_case_id).where(
            disclosure_packages.c.request_id == request_id)).first()
        if pkg is not None and pkg.accepted_case_id is not None:
            return str(pkg.accepted_case_id)
        moment = _now()
        conn.execute(cases.insert().values(
            id=case_id, reference=_unused_reference(conn), org_id=user.org_id, subject_id=None,
            subject_role=SubjectRole(body["subject_role"]).value,
            crime_type=CrimeType(body["crime_type"]).value, status=CaseStatus.NEW.value,
            intake=IntakeKind.THIRD_PARTY.value, language="en", assigned_to=user.id,
            created_at=moment, updated_at=moment))
        conn.execute(reports.insert().values(id=new_id(), case_id=case_id, submitted_at=moment,
                                             filed_by=user.id))
        values = {CaseField(k): v for k, v in body["fields"].items() if v}
        from safereport.services.casework import default_purpose

        decision, _ = decide_and_record(
            instance, actor_for(user), case_id, action=Action.UPDATE,
            purpose=default_purpose(user),
            categories={FIELD_CATEGORY[k] for k in values} or {DataCategory.CRIME_DETAILS},
            detail={"event": "disclosure_accepted", "disclosure": request_id}, conn=conn)
        if decision.allowed:
            instance.vault.create_case_key(conn, case_id)
            instance.vault.seal_fields(conn, case_id, values)
            conn.execute(update(disclosure_packages).where(
                disclosure_packages.c.request_id == request_id).values(accepted_case_id=case_id))
        else:
            conn.execute(reports.delete().where(reports.c.case_id == case_id))
            conn.execute(cases.delete().where(cases.c.id == case_id))
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
    cleaned = reference.strip().upper().replace(" ", "")
    if not cleaned or len(cleaned) > 32:
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
    return AskView(row.id, names.get(row.from_org_id, "?"), names.get(row.to_org_id, "?"),
                   row.reference, Purpose(row.purpose),
                   tuple(DataCategory(c) for c in row.categories.split()), row.status,
                   row.request_id, case_id, row.from_org_id, row.created_at)


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
        raise InvalidInput("no such ask")
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
