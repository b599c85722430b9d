"""Her consent and her requests, with who stated them (POLICY.md v2, DESIGN.md section 6).

A fact that opens a road to another organisation counts only when it came from her:

* through her own door (the report form, her return page): it counts at once;
* in person, recorded by one staff member: it waits, visibly, until a second staff member of
  the holding organisation (never the recorder) confirms it, and counts for nothing until then.

Her withdrawal ends a consent or a request at once. Every step, and every refusal, is a
decision in the ledger: the writes are decided in the same transaction as the write, and a
refused confirmation is a denial on record with its real reason (I2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from safereport.domain.case import new_id
from safereport.domain.vocabulary import (
    Action,
    ActorRole,
    DataCategory,
    Purpose,
    Recipient,
)
from safereport.errors import AccessDenied, InvalidInput
from safereport.services.access import decide_and_record, record_failure
from safereport.services.auth import StaffUser
from safereport.services.casework import (
    CaseNotHeld,
    actor_for,
    default_purpose,
    record_not_held,
)
from safereport.services.instance import Instance
from safereport.services.intake import CONSENT_CHOICES, victim_actor
from safereport.store.cases import case_holder
from safereport.store.casework import display_names
from safereport.store.provenance import (
    ConsentRow,
    FactSource,
    VictimRequestRow,
    confirm_consent_by,
    confirm_request_by,
    consent_row,
    consent_rows,
    insert_consent,
    insert_victim_request,
    released_to,
    standing_consent_row,
    victim_request_row,
    victim_request_rows,
    withdraw_victim_request,
)

__all__ = [
    "REQUESTABLE_CATEGORIES",
    "REQUEST_CHOICES",
    "CaseFacts",
    "FactView",
    "SharedBefore",
    "ask_for_disclosure_herself",
    "case_facts",
    "confirm_consent",
    "confirm_request",
    "record_consent_in_person",
    "record_request_in_person",
    "shared_under",
    "withdraw_her_request",
]

#: What she may ask her service to send, and to whom: the consents she can give, less MARAC
#: (a professionals' meeting that her service refers to, not one she applies to).
REQUEST_CHOICES: tuple[tuple[Recipient, Purpose], ...] = tuple(
    choice for choice in CONSENT_CHOICES if choice[0] is not Recipient.MARAC
)
#: The kinds of data she may ask to send (never statistics, never staff's own notes).
REQUESTABLE_CATEGORIES: tuple[DataCategory, ...] = tuple(
    c for c in DataCategory if c not in (DataCategory.AGGREGATE, DataCategory.CASE_NOTES)
)
#: Staff who can record or confirm a fact she stated in person.
_CASE_STAFF = frozenset(
    {ActorRole.CASEWORKER, ActorRole.SUPERVISOR, ActorRole.POLICE_OFFICER}
)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FactView:
    """One consent or request as staff see it on the case page."""

    id: str
    kind: str  # "consent" or "request"
    recipient: Recipient
    purpose: Purpose
    categories: tuple[DataCategory, ...]
    source: FactSource
    recorded_by: str  # a display name, or "" when she gave it herself
    confirmed_by: str
    recorded_by_id: str | None
    when: datetime
    stands: bool
    awaiting_confirmation: bool
    withdrawn: bool
    #: A consent's review date (issue 17), and whether it has passed (it no longer counts).
    review_on: datetime | None = None
    review_passed: bool = False

    @property
    def review_soon(self) -> bool:
        """A standing consent whose review date falls within :data:`REVIEW_NOTICE_DAYS`."""
        return (self.stands and self.review_on is not None
                and self.review_on - _now() <= timedelta(days=REVIEW_NOTICE_DAYS))


#: The case page flags a consent this many days before its review date.
REVIEW_NOTICE_DAYS = 30


@dataclass(frozen=True)
class CaseFacts:
    consents: tuple[FactView, ...]
    requests: tuple[FactView, ...]

    @property
    def waiting(self) -> tuple[FactView, ...]:
        return tuple(f for f in (*self.consents, *self.requests) if f.awaiting_confirmation)

    @property
    def standing_requests(self) -> tuple[FactView, ...]:
        return tuple(f for f in self.requests if f.stands)

    @property
    def due_for_review(self) -> tuple[FactView, ...]:
        """Consents to review with her: soon due, or past their date (no longer counting)."""
        renewed = {(f.recipient, f.purpose) for f in self.consents
                   if f.stands and not f.review_soon}
        return tuple(f for f in self.consents if f.review_soon or (
            f.review_passed and not f.withdrawn and not f.awaiting_confirmation
            and (f.recipient, f.purpose) not in renewed))


@dataclass(frozen=True)
class SharedBefore:
    """A release made while a consent stood (shown to her when she withdraws it)."""

    recipient: Recipient
    purpose: Purpose
    categories: tuple[DataCategory, ...]
    when: datetime


# ---- checks ---------------------------------------------------------------------------------


def _held_case(conn: Connection, user: StaffUser, case_id: str) -> None:
    found = case_holder(conn, case_id)
    if found is None or found.org_id != user.org_id or found.erased:
        raise CaseNotHeld()


def _choice(recipient: Recipient, purpose: Purpose, choices: Iterable[tuple[Recipient, Purpose]],
            what: str) -> None:
    if (recipient, purpose) not in tuple(choices):
        raise InvalidInput(f"that {what} is not one that can be recorded here")


def _categories(chosen: Iterable[DataCategory | str]) -> frozenset[DataCategory]:
    try:
        wanted = frozenset(DataCategory(c) for c in chosen)
    except ValueError as exc:
        raise InvalidInput("unknown kind of data") from exc
    if not wanted:
        raise InvalidInput("choose at least one kind of information to send")
    if not wanted <= frozenset(REQUESTABLE_CATEGORIES):
        raise InvalidInput("those kinds of information cannot be sent on request")
    return wanted


def _decide_update(
    instance: Instance, conn: Connection, user: StaffUser, case_id: str, detail: dict[str, str]
) -> None:
    """The write's decision, in the write's own transaction (the road for writes)."""
    decision, _ = decide_and_record(
        instance, actor_for(user), case_id, action=Action.UPDATE,
        purpose=default_purpose(user), categories=[DataCategory.CASE_NOTES],
        detail=detail, conn=conn,
    )
    if not decision.allowed:
        raise AccessDenied("not allowed: " + "; ".join(decision.reasons or ("no rule",)),
                           rules=decision.rules, reasons=decision.reasons)


def _staff_write(
    instance: Instance,
    user: StaffUser,
    case_id: str,
    event: str,
    work: Callable[[Connection], None],
) -> None:
    """Run a staff write on a held case; a refusal is committed as a denial before raising."""
    denial: Exception | None = None
    try:
        with instance.engine.begin() as conn:
            _held_case(conn, user, case_id)
            if user.role not in _CASE_STAFF:
                raise _Refused("role_cannot_record",
                               "only caseworkers, supervisors and officers record this")
            _decide_update(instance, conn, user, case_id, {"event": event})
            work(conn)
    except CaseNotHeld as exc:
        denial = exc
        record_not_held(instance, user, case_id, Action.UPDATE, event)
    except _Refused as exc:
        denial = InvalidInput(exc.message)
        record_failure(instance, actor_for(user), case_id, None, exc.failure,
                       detail={"event": event})
    except AccessDenied as exc:
        # The guard's denial rolled back with the write: commit a denial on its own (I2).
        record_failure(instance, actor_for(user), case_id, None, "update_denied",
                       detail={"event": event})
        denial = exc
    if denial is not None:
        raise denial


class _Refused(Exception):
    """A refusal with its ledger reason (``failure``) and the person's message."""

    def __init__(self, failure: str, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message


# ---- staff: recorded in person, confirmed by a second person --------------------------------


def record_consent_in_person(
    instance: Instance, user: StaffUser, case_id: str, recipient: Recipient, purpose: Purpose
) -> str:
    """Record a consent she gave in person. It counts only once a colleague confirms it."""
    _choice(recipient, purpose, CONSENT_CHOICES, "consent")
    consent_id = new_id()

    def work(conn: Connection) -> None:
        _insert_staff_consent(conn, consent_id, case_id, recipient, purpose, user.id)

    _staff_write(instance, user, case_id, "consent_recorded", work)
    return consent_id


def _insert_staff_consent(
    conn: Connection, consent_id: str, case_id: str, recipient: Recipient, purpose: Purpose,
    recorder: str,
) -> None:
    insert_consent(conn, id=consent_id, case_id=case_id, recipient=recipient, purpose=purpose,
                   given_at=_now(), source=FactSource.STAFF, recorded_by=recorder)


def record_request_in_person(
    instance: Instance,
    user: StaffUser,
    case_id: str,
    recipient: Recipient,
    purpose: Purpose,
    categories: Iterable[DataCategory | str],
) -> str:
    """Record a disclosure she asked for in person (and her consent to it, which it implies).

    Both wait for a colleague's confirmation; until then neither counts.
    """
    _choice(recipient, purpose, REQUEST_CHOICES, "request")
    wanted = _categories(categories)
    request_id, consent_id = new_id(), new_id()

    def work(conn: Connection) -> None:
        _insert_staff_consent(conn, consent_id, case_id, recipient, purpose, user.id)
        insert_victim_request(
            conn, id=request_id, case_id=case_id, recipient=recipient, purpose=purpose,
            categories=wanted, source=FactSource.STAFF, recorded_by=user.id,
            consent_id=consent_id, created_at=_now())

    _staff_write(instance, user, case_id, "request_recorded", work)
    return request_id


def _confirmation_refusal(user: StaffUser, row: ConsentRow | VictimRequestRow | None,
                          case_org: str | None) -> _Refused | None:
    if row is None or case_org != user.org_id:
        return _Refused("confirmation_not_held", "there is nothing here to confirm")
    if row.withdrawn_at is not None:
        return _Refused("confirmation_of_withdrawn", "she has withdrawn this; it cannot be "
                        "confirmed")
    if row.source is FactSource.SUBJECT:
        return _Refused("confirmation_not_needed", "she gave this herself; it needs no "
                        "confirmation")
    if row.confirmed_by is not None:
        return _Refused("confirmation_repeated", "this has been confirmed already")
    if row.recorded_by == user.id:
        return _Refused("confirmation_by_recorder", "a second person must confirm this: not "
                        "the one who recorded it")
    if user.role not in _CASE_STAFF:
        return _Refused("role_cannot_confirm", "only caseworkers, supervisors and officers "
                        "confirm this")
    return None


def _case_org(conn: Connection, case_id: str) -> str | None:
    row = case_holder(conn, case_id)
    return None if row is None or row.erased else row.org_id


def confirm_consent(instance: Instance, user: StaffUser, consent_id: str) -> None:
    """A second staff member confirms a consent a colleague recorded in person."""
    _confirm(instance, user, consent_id, "consent")


def confirm_request(instance: Instance, user: StaffUser, request_id: str) -> None:
    """A second staff member confirms a request a colleague recorded (and its consent)."""
    _confirm(instance, user, request_id, "request")


def _load(conn: Connection, kind: str, fact_id: str) -> ConsentRow | VictimRequestRow | None:
    if kind == "request":
        return victim_request_row(conn, fact_id)
    return consent_row(conn, fact_id)


def _confirm(instance: Instance, user: StaffUser, fact_id: str, kind: str) -> None:
    event = f"{kind}_confirmed"
    found: dict[str, str] = {}
    try:
        with instance.engine.begin() as conn:
            row = _load(conn, kind, fact_id[:32])
            if row is not None:
                found["case_id"] = row.case_id
            refusal = _confirmation_refusal(
                user, row, _case_org(conn, row.case_id) if row is not None else None
            )
            if refusal is not None or row is None:
                raise refusal or _Refused("confirmation_not_held", "nothing to confirm")
            _decide_update(instance, conn, user, row.case_id, {"event": event, kind: row.id})
            review_on = _now() + timedelta(days=instance.settings.consent_review_days)
            if not _mark_confirmed(conn, kind, row, user.id, review_on):
                # Another confirmation, or her withdrawal, won the race: roll back.
                raise _Refused("confirmation_raced", "this changed while you looked: it was "
                               "confirmed or withdrawn already")
    except _Refused as exc:
        record_failure(instance, actor_for(user), found.get("case_id"), None, exc.failure,
                       detail={"event": event})
        raise InvalidInput(exc.message) from None
    except AccessDenied:
        record_failure(instance, actor_for(user), found.get("case_id"), None, "update_denied",
                       detail={"event": event})
        raise


def _mark_confirmed(
    conn: Connection, kind: str, row: ConsentRow | VictimRequestRow, confirmer: str,
    review_on: datetime,
) -> bool:
    """Confirm it; a consent gets its review date now (``consent_review_days``)."""
    moment = _now()
    if kind == "request":
        done = confirm_request_by(conn, row.id, confirmer, moment)
    else:
        done = confirm_consent_by(conn, row.id, confirmer, moment, review_on,
                                  not_its_recorder=True)
    if done and isinstance(row, VictimRequestRow) and row.consent_id:
        confirm_consent_by(conn, row.consent_id, confirmer, moment, review_on,
                           not_its_recorder=False)
    return done


def case_facts(instance: Instance, user: StaffUser, case_id: str) -> CaseFacts:
    """Consents and requests on a held case, with who stated and confirmed each."""
    with instance.engine.connect() as conn:
        _held_case(conn, user, case_id)
        return case_facts_in(conn, case_id)


def case_facts_in(conn: Connection, case_id: str) -> CaseFacts:
    """:func:`case_facts` of a case already known to be held, through an open connection."""
    consents = consent_rows(conn, case_id)
    requests = victim_request_rows(conn, case_id)
    names = display_names(conn, [*(c.recorded_by for c in consents),
                                 *(c.confirmed_by for c in consents),
                                 *(r.recorded_by for r in requests),
                                 *(r.confirmed_by for r in requests)])
    return CaseFacts(tuple(_consent_view(c, names) for c in consents),
                     tuple(_request_view(r, names) for r in requests))


def _consent_view(c: ConsentRow, names: dict[str, str]) -> FactView:
    return FactView(
        c.id, "consent", c.recipient, c.purpose, (), c.source,
        names.get(c.recorded_by or "", ""), names.get(c.confirmed_by or "", ""), c.recorded_by,
        c.given_at, c.stands, c.awaiting_confirmation, c.withdrawn_at is not None,
        c.review_on, c.review_on is not None and c.review_due,
    )


def _request_view(r: VictimRequestRow, names: dict[str, str]) -> FactView:
    return FactView(
        r.id, "request", r.recipient, r.purpose, tuple(sorted(r.categories)), r.source,
        names.get(r.recorded_by or "", ""), names.get(r.confirmed_by or "", ""), r.recorded_by,
        r.created_at, r.stands, r.awaiting_confirmation, r.withdrawn_at is not None,
    )


# ---- her own door ---------------------------------------------------------------------------


def ask_for_disclosure_herself(
    instance: Instance,
    subject_id: str,
    case_id: str,
    recipient: Recipient,
    purpose: Purpose,
    categories: Iterable[DataCategory | str],
    conn: Connection,
) -> str:
    """Her request, made through her own door, inside the caller's transaction.

    It counts at once, and so does the consent it carries (she gave both herself). The caller
    (the victim service) has already checked that the case is hers.
    """
    _choice(recipient, purpose, REQUEST_CHOICES, "request")
    wanted = _categories(categories)
    decision, _ = decide_and_record(
        instance, victim_actor(subject_id), case_id, action=Action.UPDATE,
        purpose=Purpose.SUBJECT_ACCESS, categories=[DataCategory.CRIME_DETAILS],
        detail={"event": "disclosure_asked", "asked": f"{recipient.value}/{purpose.value}"},
        conn=conn,
    )
    if not decision.allowed:
        raise AccessDenied("access denied", rules=decision.rules, reasons=decision.reasons)
    consent = standing_consent_row(conn, case_id, recipient, purpose)
    consent_id = consent.id if consent is not None else new_id()
    if consent is None:
        insert_consent(
            conn, id=consent_id, case_id=case_id, recipient=recipient, purpose=purpose,
            given_at=_now(), source=FactSource.SUBJECT,
            review_on=_now() + timedelta(days=instance.settings.consent_review_days))
    request_id = new_id()
    insert_victim_request(
        conn, id=request_id, case_id=case_id, recipient=recipient, purpose=purpose,
        categories=wanted, source=FactSource.SUBJECT, consent_id=consent_id,
        created_at=_now())
    return request_id


def withdraw_her_request(
    instance: Instance, subject_id: str, case_id: str, request_id: str, conn: Connection
) -> bool:
    """She withdraws a request (and nothing else): at once. False if it was not hers."""
    row = victim_request_row(conn, request_id[:32])
    if row is None or row.case_id != case_id or row.withdrawn_at is not None:
        return False
    decision, _ = decide_and_record(
        instance, victim_actor(subject_id), case_id, action=Action.UPDATE,
        purpose=Purpose.SUBJECT_ACCESS, categories=[DataCategory.CRIME_DETAILS],
        detail={"event": "disclosure_ask_withdrawn"}, conn=conn,
    )
    if not decision.allowed:
        raise AccessDenied("access denied", rules=decision.rules, reasons=decision.reasons)
    withdraw_victim_request(conn, row.id, _now())
    return True


def shared_under(
    conn: Connection, case_id: str, recipient: Recipient, purpose: Purpose
) -> list[SharedBefore]:
    """What was released to this kind of recipient for this purpose (newest first)."""
    rows = released_to(conn, case_id, recipient, purpose)
    return [
        SharedBefore(recipient, purpose, tuple(DataCategory(c) for c in r.categories.split()),
                     r.updated_at)
        for r in rows
    ]
