"""The person's own door: her case, messages, consents, requests, who has seen her data.

Every read of case content goes through the access road (guard, then ledger, then vault) with
the person as actor (role ``victim``, purpose ``subject_access``); every change is decided and
recorded in the same transaction as the change itself.

A :class:`VictimSession` is what a codename (or a claim) opens: one subject and her case. The
web layer carries it between pages in a short-lived signed pass, never in a cookie. Her
erasure is :mod:`safereport.services.erasure`; claiming a case filed on her behalf,
:mod:`safereport.services.claim`.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from safereport.domain.case import CaseStatus, new_id
from safereport.domain.codename import derive, looks_like_codename
from safereport.domain.fields import CaseField
from safereport.domain.vocabulary import Action, DataCategory, Purpose, Recipient
from safereport.errors import AccessDenied, InvalidInput, VaultError
from safereport.ledger.log import EntryView
from safereport.ledger.verifier import TlogProof, format_proof, parse_proof
from safereport.ledger.witness_client import cosigned_proof
from safereport.policy.decision import Decision
from safereport.services.access import (
    access_case,
    decide_and_record,
    decide_write,
    entries_about,
    open_blob,
    record_failure,
)
from safereport.services.instance import Instance
from safereport.services.intake import CONSENT_CHOICES, argon2_params, codename_salt, victim_actor
from safereport.services.provenance import (
    SharedBefore,
    ask_for_disclosure_herself,
    shared_under,
    withdraw_her_request,
)
from safereport.services.retention import notice_for_case
from safereport.store.consent_changes import give_her_consent, withdraw_consent
from safereport.store.doors import HerCase, door_opens, newest_case_behind
from safereport.store.doors import her_case as her_case_row
from safereport.store.messages import insert_her_message, messages_for_her
from safereport.store.provenance import FactSource, consent_rows, victim_request_rows

__all__ = [
    "MAX_MESSAGE_CHARS",
    "CaseOverview",
    "ConsentState",
    "Message",
    "MyRequest",
    "NotYourCase",
    "Receipt",
    "Record",
    "VictimSession",
    "ask_for_disclosure",
    "case_overview",
    "consent_states",
    "door_open",
    "her_case",
    "message_label",
    "messages",
    "my_record",
    "my_requests",
    "open_by_codename",
    "raise_if_denied",
    "receipt",
    "record",
    "refusals_on_record",
    "require_not_erased",
    "send_message",
    "set_consent",
    "who_has_seen",
    "withdraw_request",
]

log = logging.getLogger("safereport.victim")

MAX_MESSAGE_CHARS = 5_000


@dataclass(frozen=True)
class VictimSession:
    subject_id: str
    case_id: str


@dataclass(frozen=True)
class CaseOverview:
    reference: str
    status: CaseStatus
    crime_type: str
    created_at: datetime
    erasure_requested_at: datetime | None
    erasure_due_at: datetime | None
    erased: bool
    #: the day a retention rule will shred the case, once she has been told (issue 20)
    retention_shred_on: datetime | None = None


@dataclass(frozen=True)
class Message:
    time: datetime
    from_me: bool
    text: str


@dataclass(frozen=True)
class ConsentState:
    recipient: Recipient
    purpose: Purpose
    active: bool
    since: datetime | None
    #: recorded in person by her caseworker, not yet confirmed by a second person: it does
    #: not count, and she can see that
    pending: bool = False
    #: what was sent to this kind of recipient for this purpose while a consent stood
    shared_before: tuple[SharedBefore, ...] = ()


@dataclass(frozen=True)
class MyRequest:
    """A disclosure she asked her service to make (what, to whom, and where it stands)."""

    id: str
    recipient: Recipient
    purpose: Purpose
    categories: tuple[DataCategory, ...]
    asked_at: datetime
    in_person: bool
    counts: bool
    withdrawn: bool


@dataclass(frozen=True)
class Receipt:
    filename: str
    text: str


@dataclass(frozen=True)
class Record:
    """Every receipt of her case in one zip file: one download, not one per entry."""

    filename: str
    data: bytes


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def message_label(note_id: str) -> str:
    """The purpose label a note's blob is sealed under (binds the ciphertext to its row)."""
    return f"note:{note_id}"


# -- opening the door -----------------------------------------------------------------------

def open_by_codename(instance: Instance, codename: str) -> VictimSession | None:
    """The session a codename opens, or None. Always pays the Argon2id cost when well formed."""
    if not looks_like_codename(codename):
        return None
    secret = derive(codename, codename_salt(instance), argon2_params(instance))
    with instance.engine.connect() as conn:
        found = newest_case_behind(conn, secret.lookup_id)
    if found is None:
        return None
    return VictimSession(subject_id=found.subject_id, case_id=found.case_id)


def door_open(instance: Instance, session: VictimSession) -> bool:
    """Whether her session still opens her case: not erased, and her door not moved or gone.

    Checked on every request of a return session (security review, 19), so a session stops
    working the moment her case is erased or the case's door is another subject's.
    """
    with instance.engine.connect() as conn:
        return door_opens(conn, session.case_id, session.subject_id)


class NotYourCase(AccessDenied):
    """The session's case is not (or no longer) its subject's.

    Raised inside the caller's transaction, which then rolls back; :func:`refusals_on_record`
    commits the denial after that (I2: every refusal is in the ledger).
    """

    def __init__(self) -> None:
        super().__init__("this is not your case")


def her_case(conn: Connection, session: VictimSession) -> HerCase:
    """Her session's case; raises :class:`NotYourCase` when it is not (or no longer) hers."""
    case = her_case_row(conn, session.case_id, session.subject_id)
    if case is None:
        raise NotYourCase()
    return case


def _record_refusal(
    instance: Instance,
    session: VictimSession,
    action: Action,
    event: str,
    detail: dict[str, str] | None = None,
) -> None:
    """Commit the denial of an attempt on a case (or entry) that is not hers.

    As casework's ``record_not_held``: the road refuses it under S-not-held (POLICY.md
    section 6) whatever the regime says, and the refusal names the case tried.
    """
    decide_and_record(
        instance,
        victim_actor(session.subject_id),
        session.case_id,
        action=action,
        purpose=Purpose.SUBJECT_ACCESS,
        categories=[DataCategory.CASE_NOTES],
        context={"case_not_held": True},
        detail={"event": event, **(detail or {})},
    )


@contextmanager
def refusals_on_record(
    instance: Instance, session: VictimSession, action: Action, event: str
) -> Iterator[None]:
    """Around a whole service call: a refusal by :func:`her_case` is committed as a denial.

    It must wrap the caller's transaction, not sit inside it: a denial appended there would
    roll back with it (and SQLite's BEGIN IMMEDIATE forbids a second writer meanwhile).
    """
    try:
        yield
    except NotYourCase:
        _record_refusal(instance, session, action, event)
        raise


def case_overview(instance: Instance, session: VictimSession) -> CaseOverview:
    """Status and dates: routing facts, not sealed content, so no vault access is needed."""
    with (
        refusals_on_record(instance, session, Action.VIEW, "case_overview"),
        instance.engine.connect() as conn,
    ):
        case = her_case(conn, session)
        shred_on = notice_for_case(conn, session.case_id)
    requested = _aware(case.erasure_requested_at)
    hours = instance.settings.erasure_cooling_off_hours
    return CaseOverview(
        reference=case.reference,
        status=CaseStatus(case.status),
        crime_type=case.crime_type,
        created_at=_aware(case.created_at) or datetime.now(UTC),
        erasure_requested_at=requested,
        erasure_due_at=requested + timedelta(hours=hours) if requested else None,
        erased=case.erased_at is not None,
        retention_shred_on=shred_on,
    )


def my_record(instance: Instance, session: VictimSession) -> dict[CaseField, str]:
    """What her case holds about her, opened for her under C-self (the read is in the ledger).

    Raises :class:`AccessDenied` (recorded) when the case is not hers or the guard refuses.
    """
    with (
        refusals_on_record(instance, session, Action.VIEW, "my_record"),
        instance.engine.connect() as conn,
    ):
        require_not_erased(her_case(conn, session))
    access = access_case(instance, victim_actor(session.subject_id), session.case_id,
                         action=Action.VIEW, purpose=Purpose.SUBJECT_ACCESS)
    return dict(access.values)


# -- messages -------------------------------------------------------------------------------

def messages(instance: Instance, session: VictimSession) -> list[Message]:
    """The conversation with her caseworker, opened under a grant for ``case_notes``.

    Raises :class:`AccessDenied` after recording a denial when the case is not hers, the guard
    refuses, or the vault cannot open a message (then nothing is returned).
    """
    with (
        refusals_on_record(instance, session, Action.VIEW, "messages_read"),
        instance.engine.connect() as conn,
    ):
        her_case(conn, session)
        rows = messages_for_her(conn, session.case_id)
    if not rows:
        return []
    actor = victim_actor(session.subject_id)
    access = access_case(
        instance,
        actor,
        session.case_id,
        action=Action.VIEW,
        purpose=Purpose.SUBJECT_ACCESS,
        fields=[],
        categories=[DataCategory.CASE_NOTES],
    )
    opened: list[Message] = []
    try:
        with instance.engine.connect() as conn:
            for row in rows:
                data = open_blob(
                    instance, conn, access.grant, session.case_id, DataCategory.CASE_NOTES,
                    message_label(row.id), row.sealed,
                )
                opened.append(
                    Message(
                        time=_aware(row.created_at) or datetime.now(UTC),
                        from_me=row.author_kind == "victim",
                        text=data.decode("utf-8"),
                    )
                )
    except VaultError as exc:
        # The allow is already on record: without this denial the ledger's last word on her
        # messages would be "allow" for a read that released nothing (I2). None are returned.
        log.warning("vault refused to open a message of a case; recorded as a denial")
        record_failure(instance, actor, session.case_id, access.decision, "vault_error")
        raise AccessDenied("access denied: the messages could not be opened") from exc
    return opened


def send_message(
    instance: Instance, session: VictimSession, text: str, *, now: datetime | None = None
) -> None:
    text = text.strip()
    if not text:
        raise InvalidInput("the message is empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidInput("the message is too long")
    now = now or datetime.now(UTC)
    note_id = new_id()
    with (
        refusals_on_record(instance, session, Action.UPDATE, "message_sent"),
        instance.engine.begin() as conn,
    ):
        require_not_erased(her_case(conn, session))
        decision, write = decide_write(
            instance, conn, victim_actor(session.subject_id), session.case_id,
            purpose=Purpose.SUBJECT_ACCESS,
            categories=[DataCategory.CASE_NOTES], detail={"event": "message_sent"},
        )
        if write is not None:
            sealed = write.seal_blob(
                DataCategory.CASE_NOTES, message_label(note_id), text.encode("utf-8"),
            )
            insert_her_message(conn, note_id, session.case_id, sealed, now)
    raise_if_denied(decision)


def require_not_erased(case: HerCase) -> None:
    """Raises :class:`InvalidInput` once her case has been erased."""
    if case.erased_at is not None:
        raise InvalidInput("this case has been erased")


def raise_if_denied(decision: Decision) -> None:
    """Raises :class:`AccessDenied` (its rules and reasons with it) for a denial already on
    record."""
    if not decision.allowed:
        raise AccessDenied("access denied", rules=decision.rules, reasons=decision.reasons)


# -- consents -------------------------------------------------------------------------------

def consent_states(instance: Instance, session: VictimSession) -> list[ConsentState]:
    """Every consent she may give, with whether it stands now (all off unless she gave it)."""
    with (
        refusals_on_record(instance, session, Action.VIEW, "consents_read"),
        instance.engine.connect() as conn,
    ):
        her_case(conn, session)
        rows = consent_rows(conn, session.case_id)
        shared = {
            (recipient, purpose): tuple(shared_under(conn, session.case_id, recipient, purpose))
            for recipient, purpose in CONSENT_CHOICES
        }
    active = {(r.recipient, r.purpose): _aware(r.given_at) for r in rows if r.stands}
    pending = {(r.recipient, r.purpose) for r in rows if r.awaiting_confirmation}
    return [
        ConsentState(recipient, purpose, (recipient, purpose) in active,
                     active.get((recipient, purpose)),
                     pending=(recipient, purpose) in pending and (recipient, purpose) not in active,
                     shared_before=shared[(recipient, purpose)])
        for recipient, purpose in CONSENT_CHOICES
    ]


def set_consent(
    instance: Instance,
    session: VictimSession,
    recipient: Recipient,
    purpose: Purpose,
    *,
    give: bool,
    now: datetime | None = None,
) -> None:
    """Give or withdraw one consent; recorded in the ledger with the change."""
    if (recipient, purpose) not in CONSENT_CHOICES:
        raise InvalidInput("that consent is not one that can be given here")
    now = now or datetime.now(UTC)
    event = "consent_given" if give else "consent_withdrawn"
    with (
        refusals_on_record(instance, session, Action.UPDATE, event),
        instance.engine.begin() as conn,
    ):
        require_not_erased(her_case(conn, session))
        decision, _ = decide_and_record(
            instance, victim_actor(session.subject_id), session.case_id,
            action=Action.UPDATE, purpose=Purpose.SUBJECT_ACCESS,
            categories=[DataCategory.CRIME_DETAILS],
            detail={"event": event, "consent": f"{recipient.value}/{purpose.value}"},
            conn=conn,
        )
        if decision.allowed and give:
            give_her_consent(conn, session.case_id, recipient, purpose, now,
                             review_on=now + timedelta(days=instance.settings.consent_review_days))
        elif decision.allowed:
            withdraw_consent(conn, session.case_id, recipient, purpose, now)
    raise_if_denied(decision)


# -- asking her service to send something -----------------------------------------------------

def my_requests(instance: Instance, session: VictimSession) -> list[MyRequest]:
    """What she has asked to be sent, newest first."""
    with (
        refusals_on_record(instance, session, Action.VIEW, "requests_read"),
        instance.engine.connect() as conn,
    ):
        her_case(conn, session)
        rows = victim_request_rows(conn, session.case_id)
    return [
        MyRequest(r.id, r.recipient, r.purpose, tuple(sorted(r.categories)),
                  _aware(r.created_at) or r.created_at, r.source is FactSource.STAFF, r.stands,
                  r.withdrawn_at is not None)
        for r in rows
    ]


def ask_for_disclosure(
    instance: Instance,
    session: VictimSession,
    recipient: Recipient,
    purpose: Purpose,
    categories: Iterable[DataCategory | str],
) -> str:
    """She asks her support service to send these details to this recipient for this purpose.

    Made through her own door, it counts at once as her request and her consent (POLICY.md
    v2); her service then decides and carries it out, and she sees it under who has seen her
    data. Recorded in the ledger with the request.
    """
    with (
        refusals_on_record(instance, session, Action.UPDATE, "disclosure_asked"),
        instance.engine.begin() as conn,
    ):
        require_not_erased(her_case(conn, session))
        return ask_for_disclosure_herself(instance, session.subject_id, session.case_id,
                                          recipient, purpose, categories, conn)


def withdraw_request(instance: Instance, session: VictimSession, request_id: str) -> None:
    """She withdraws something she asked for: at once; a request not hers is refused."""
    with (
        refusals_on_record(instance, session, Action.UPDATE, "disclosure_ask_withdrawn"),
        instance.engine.begin() as conn,
    ):
        her_case(conn, session)
        if not withdraw_her_request(instance, session.subject_id, session.case_id, request_id,
                                    conn):
            raise NotYourCase()


# -- who has seen my data -------------------------------------------------------------------

def who_has_seen(instance: Instance, session: VictimSession) -> list[EntryView]:
    """Every ledger entry about her case, allowed or denied, oldest first.

    Reading the log's metadata about her own case is not itself logged: it holds no case
    content, and logging it would add an entry on every look.
    """
    with (
        refusals_on_record(instance, session, Action.VIEW, "who_has_seen"),
        instance.engine.connect() as conn,
    ):
        her_case(conn, session)
        return entries_about(instance, conn, session.case_id)


def receipt(instance: Instance, session: VictimSession, index: int) -> Receipt:
    """A C2SP tlog-proof for one entry of her case, carrying the entry itself as ``extra``.

    ``safereport ledger check-proof`` verifies it offline against the log's public key (and,
    with ``--witness``, the witnesses' cosignatures it carries).
    """
    entries = who_has_seen(instance, session)
    if index not in {entry.index for entry in entries}:
        # Asking for another case's entry is an attempt on that case's data: on record (I2),
        # under her own case, since the entry's case is not hers to learn.
        _record_refusal(instance, session, Action.VIEW, "receipt", {"entry": str(index)})
        raise AccessDenied("that entry is not about your case")
    # On the newest checkpoint the witnesses have cosigned, with their cosignatures.
    proof = parse_proof(cosigned_proof(instance.ledger, index))
    leaf = instance.ledger.entry(index)
    text = format_proof(TlogProof(proof.index, proof.hashes, proof.checkpoint_note, extra=leaf))
    return Receipt(filename=f"receipt-{index}.tlog-proof", text=text)


def record(instance: Instance, session: VictimSession) -> Record:
    """All her receipts in one zip (``receipt-<index>.tlog-proof`` each), newest first."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for entry in reversed(who_has_seen(instance, session)):
            found = receipt(instance, session, entry.index)
            bundle.writestr(zipfile.ZipInfo(found.filename, date_time=(2000, 1, 1, 0, 0, 0)),
                            found.text)
    return Record(filename="record.zip", data=buffer.getvalue())
