"""The person's own door: her case, messages, consents, who has seen her data, erasure, claim.

Every read of case content goes through the access road (guard, then ledger, then vault) with
the person as actor (role ``victim``, purpose ``subject_access``); every change is decided and
recorded in the same transaction as the change itself.

A :class:`VictimSession` is what a codename (or a claim) opens: one subject and her case. The
web layer carries it between pages in a short-lived signed pass, never in a cookie.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, and_, select, update

from safereport.domain.case import CaseStatus, IntakeKind, new_id
from safereport.domain.codename import (
    derive,
    hash_claim_code,
    looks_like_codename,
    new_claim_code,
    new_codename,
)
from safereport.domain.fields import FIELD_CATEGORY, CaseField
from safereport.domain.vocabulary import Action, DataCategory, Purpose, Recipient
from safereport.errors import AccessDenied, InvalidInput, VaultError
from safereport.ledger.log import EntryView
from safereport.ledger.verifier import TlogProof, format_proof, parse_proof
from safereport.ledger.witness_client import cosigned_proof
from safereport.services.access import (
    access_case,
    decide_and_record,
    decide_write,
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
from safereport.store.core import cases, consents, notes, subjects
from safereport.store.evidence import evidence_files
from safereport.store.provenance import (
    FactSource,
    consent_rows,
    victim_request_rows,
    victim_requests,
)
from safereport.store.staff import disclosure_packages, disclosure_requests
from safereport.vault import purge_remnants

__all__ = [
    "ERASABLE_CATEGORIES",
    "MAX_MESSAGE_CHARS",
    "CaseOverview",
    "ClaimCodeRefused",
    "ClaimResult",
    "ConsentState",
    "Message",
    "MyRequest",
    "Receipt",
    "Record",
    "VictimSession",
    "ask_for_disclosure",
    "cancel_erasure",
    "case_overview",
    "claim_case",
    "complete_due_erasures",
    "consent_states",
    "door_open",
    "issue_claim_code",
    "message_label",
    "messages",
    "my_record",
    "my_requests",
    "open_by_codename",
    "receipt",
    "record",
    "request_erasure",
    "send_message",
    "set_consent",
    "shred_case",
    "who_has_seen",
    "withdraw_request",
]

log = logging.getLogger("safereport.victim")

MAX_MESSAGE_CHARS = 5_000
#: Everything a case can hold: what an erasure is decided over.
_ALL_CATEGORIES = frozenset(FIELD_CATEGORY.values()) | {DataCategory.CASE_NOTES}
ERASABLE_CATEGORIES = _ALL_CATEGORIES


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


@dataclass(frozen=True)
class ClaimResult:
    reference: str
    codename: str


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
        row = conn.execute(
            select(cases.c.id, subjects.c.id.label("subject_id"))
            .join(subjects, subjects.c.id == cases.c.subject_id)
            .where(subjects.c.lookup_id == secret.lookup_id)
            .order_by(cases.c.created_at.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    return VictimSession(subject_id=str(row.subject_id), case_id=str(row.id))


def door_open(instance: Instance, session: VictimSession) -> bool:
    """Whether her session still opens her case: not erased, and her door not moved or gone.

    Checked on every request of a return session (security review, 19), so a session stops
    working the moment her case is erased or the case's door is another subject's.
    """
    with instance.engine.connect() as conn:
        row = conn.execute(
            select(cases.c.erased_at, subjects.c.lookup_id)
            .join(subjects, subjects.c.id == cases.c.subject_id)
            .where(and_(cases.c.id == session.case_id,
                        cases.c.subject_id == session.subject_id))
        ).first()
    return row is not None and row.erased_at is None and row.lookup_id is not None


class _NotYourCase(AccessDenied):
    """The session's case is not (or no longer) its subject's.

    Raised inside the caller's transaction, which then rolls back; :func:`_refusal_recorded`
    commits the denial after that (I2: every refusal is in the ledger).
    """

    def __init__(self) -> None:
        super().__init__("this is not your case")


def _owned_case(conn: Connection, session: VictimSession) -> dict[str, object]:
    row = conn.execute(
        select(cases).where(
            and_(cases.c.id == session.case_id, cases.c.subject_id == session.subject_id)
        )
    ).first()
    if row is None:
        raise _NotYourCase()
    return dict(row._mapping)


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
def _refusal_recorded(
    instance: Instance, session: VictimSession, action: Action, event: str
) -> Iterator[None]:
    """Around a whole service call: a refusal by :func:`_owned_case` is committed as a denial.

    It must wrap the caller's transaction, not sit inside it: a denial appended there would
    roll back with it (and SQLite's BEGIN IMMEDIATE forbids a second writer meanwhile).
    """
    try:
        yield
    except _NotYourCase:
        _record_refusal(instance, session, action, event)
        raise


def case_overview(instance: Instance, session: VictimSession) -> CaseOverview:
    """Status and dates: routing facts, not sealed content, so no vault access is needed."""
    with (
        _refusal_recorded(instance, session, Action.VIEW, "case_overview"),
        instance.engine.connect() as conn,
    ):
        row = _owned_case(conn, session)
        shred_on = notice_for_case(conn, session.case_id)
    requested = _aware(row["erasure_requested_at"])  # type: ignore[arg-type]
    hours = instance.settings.erasure_cooling_off_hours
    return CaseOverview(
        reference=str(row["reference"]),
        status=CaseStatus(str(row["status"])),
        crime_type=str(row["crime_type"]),
        created_at=_aware(row["created_at"]) or datetime.now(UTC),  # type: ignore[arg-type]
        erasure_requested_at=requested,
        erasure_due_at=requested + timedelta(hours=hours) if requested else None,
        erased=row["erased_at"] is not None,
        retention_shred_on=shred_on,
    )


def my_record(instance: Instance, session: VictimSession) -> dict[CaseField, str]:
    """What her case holds about her, opened for her under C-self (the read is in the ledger).

    Raises :class:`AccessDenied` (recorded) when the case is not hers or the guard refuses.
    """
    with (
        _refusal_recorded(instance, session, Action.VIEW, "my_record"),
        instance.engine.connect() as conn,
    ):
        _require_open(_owned_case(conn, session))
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
        _refusal_recorded(instance, session, Action.VIEW, "messages_read"),
        instance.engine.connect() as conn,
    ):
        _owned_case(conn, session)
        rows = conn.execute(
            select(notes)
            .where(and_(notes.c.case_id == session.case_id, notes.c.visible_to_subject))
            .order_by(notes.c.created_at, notes.c.id)
        ).all()
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
                    message_label(row.id), bytes(row.sealed),
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
        _refusal_recorded(instance, session, Action.UPDATE, "message_sent"),
        instance.engine.begin() as conn,
    ):
        _require_open(_owned_case(conn, session))
        decision, write = decide_write(
            instance, conn, victim_actor(session.subject_id), session.case_id,
            purpose=Purpose.SUBJECT_ACCESS,
            categories=[DataCategory.CASE_NOTES], detail={"event": "message_sent"},
        )
        if write is not None:
            sealed = write.seal_blob(
                DataCategory.CASE_NOTES, message_label(note_id), text.encode("utf-8"),
            )
            conn.execute(
                notes.insert().values(
                    id=note_id, case_id=session.case_id, author_id=None, author_kind="victim",
                    visible_to_subject=True, sealed=sealed, created_at=now,
                )
            )
    _raise_if_denied(decision.allowed, decision.rules, decision.reasons)


def _require_open(case: dict[str, object]) -> None:
    if case["erased_at"] is not None:
        raise InvalidInput("this case has been erased")


def _raise_if_denied(allowed: bool, rules: tuple[str, ...], reasons: tuple[str, ...]) -> None:
    if not allowed:
        raise AccessDenied("access denied", rules=rules, reasons=reasons)


# -- consents -------------------------------------------------------------------------------

def consent_states(instance: Instance, session: VictimSession) -> list[ConsentState]:
    """Every consent she may give, with whether it stands now (all off unless she gave it)."""
    with (
        _refusal_recorded(instance, session, Action.VIEW, "consents_read"),
        instance.engine.connect() as conn,
    ):
        _owned_case(conn, session)
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
        _refusal_recorded(instance, session, Action.UPDATE, event),
        instance.engine.begin() as conn,
    ):
        _require_open(_owned_case(conn, session))
        decision, _ = decide_and_record(
            instance, victim_actor(session.subject_id), session.case_id,
            action=Action.UPDATE, purpose=Purpose.SUBJECT_ACCESS,
            categories=[DataCategory.CRIME_DETAILS],
            detail={"event": event, "consent": f"{recipient.value}/{purpose.value}"},
            conn=conn,
        )
        if decision.allowed:
            _change_consent(conn, session.case_id, recipient, purpose, give, now,
                            review_on=now + timedelta(
                                days=instance.settings.consent_review_days))
    _raise_if_denied(decision.allowed, decision.rules, decision.reasons)


def _change_consent(
    conn: Connection, case_id: str, recipient: Recipient, purpose: Purpose, give: bool,
    now: datetime, *, review_on: datetime,
) -> None:
    standing = and_(
        consents.c.case_id == case_id,
        consents.c.recipient == recipient.value,
        consents.c.purpose == purpose.value,
        consents.c.withdrawn_at.is_(None),
    )
    if not give:
        # Ends at once every consent to this recipient and purpose, whoever recorded it, and
        # the requests she made that rest on it.
        conn.execute(update(consents).where(standing).values(withdrawn_at=now))
        conn.execute(update(victim_requests).where(and_(
            victim_requests.c.case_id == case_id,
            victim_requests.c.recipient == recipient.value,
            victim_requests.c.purpose == purpose.value,
            victim_requests.c.withdrawn_at.is_(None))).values(withdrawn_at=now))
        return
    # One past its review date no longer counts: giving it again makes a new one (issue 17).
    mine = and_(standing, consents.c.source == FactSource.SUBJECT.value,
                consents.c.review_on > now)
    if conn.execute(select(consents.c.id).where(mine)).first() is None:
        conn.execute(
            consents.insert().values(
                id=new_id(), case_id=case_id, recipient=recipient.value,
                purpose=purpose.value, given_at=now, source=FactSource.SUBJECT.value,
                review_on=review_on,
            )
        )


# -- asking her service to send something -----------------------------------------------------

def my_requests(instance: Instance, session: VictimSession) -> list[MyRequest]:
    """What she has asked to be sent, newest first."""
    with (
        _refusal_recorded(instance, session, Action.VIEW, "requests_read"),
        instance.engine.connect() as conn,
    ):
        _owned_case(conn, session)
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
        _refusal_recorded(instance, session, Action.UPDATE, "disclosure_asked"),
        instance.engine.begin() as conn,
    ):
        _require_open(_owned_case(conn, session))
        return ask_for_disclosure_herself(instance, session.subject_id, session.case_id,
                                          recipient, purpose, categories, conn)


def withdraw_request(instance: Instance, session: VictimSession, request_id: str) -> None:
    """She withdraws something she asked for: at once; a request not hers is refused."""
    with (
        _refusal_recorded(instance, session, Action.UPDATE, "disclosure_ask_withdrawn"),
        instance.engine.begin() as conn,
    ):
        _owned_case(conn, session)
        if not withdraw_her_request(instance, session.subject_id, session.case_id, request_id,
                                    conn):
            raise _NotYourCase()


# -- who has seen my data -------------------------------------------------------------------

def who_has_seen(instance: Instance, session: VictimSession) -> list[EntryView]:
    """Every ledger entry about her case, allowed or denied, oldest first.

    Reading the log's metadata about her own case is not itself logged: it holds no case
    content, and logging it would add an entry on every look.
    """
    with (
        _refusal_recorded(instance, session, Action.VIEW, "who_has_seen"),
        instance.engine.connect() as conn,
    ):
        _owned_case(conn, session)
        return instance.ledger.entries_for_case(conn, session.case_id)


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


# -- erasure --------------------------------------------------------------------------------

def request_erasure(
    instance: Instance, session: VictimSession, *, now: datetime | None = None
) -> datetime:
    """Ask for erasure; returns when it will happen (after the cooling-off period)."""
    now = now or datetime.now(UTC)
    decision = None
    with (
        _refusal_recorded(instance, session, Action.ERASE, "erasure_requested"),
        instance.engine.begin() as conn,
    ):
        case = _owned_case(conn, session)
        _require_open(case)
        if case["erasure_requested_at"] is None:
            decision, _ = decide_and_record(
                instance, victim_actor(session.subject_id), session.case_id,
                action=Action.ERASE, purpose=Purpose.SUBJECT_ACCESS, categories=_ALL_CATEGORIES,
                detail={"event": "erasure_requested"}, conn=conn,
            )
            if decision.allowed:
                conn.execute(
                    update(cases).where(cases.c.id == session.case_id).values(
                        erasure_requested_at=now, status=CaseStatus.ERASURE_PENDING.value,
                        updated_at=now,
                    )
                )
    if decision is not None:  # a denial is committed to the ledger, then raised
        _raise_if_denied(decision.allowed, decision.rules, decision.reasons)
    overview = case_overview(instance, session)
    if overview.erasure_due_at is None:
        # Cancelled between the commit and this read (another tab, say): say so, not an
        # AssertionError (gone under ``python -O``) or a made-up date.
        raise InvalidInput("the erasure request is no longer pending")
    return overview.erasure_due_at


def cancel_erasure(
    instance: Instance, session: VictimSession, *, now: datetime | None = None
) -> None:
    """Change her mind during the cooling-off period; the case returns to work."""
    now = now or datetime.now(UTC)
    with (
        _refusal_recorded(instance, session, Action.UPDATE, "erasure_cancelled"),
        instance.engine.begin() as conn,
    ):
        case = _owned_case(conn, session)
        _require_open(case)
        if case["erasure_requested_at"] is None:
            return
        decision, _ = decide_and_record(
            instance, victim_actor(session.subject_id), session.case_id,
            action=Action.UPDATE, purpose=Purpose.SUBJECT_ACCESS,
            categories=[DataCategory.CRIME_DETAILS], detail={"event": "erasure_cancelled"},
            conn=conn,
        )
        if decision.allowed:
            conn.execute(
                update(cases).where(cases.c.id == session.case_id).values(
                    erasure_requested_at=None, status=CaseStatus.IN_PROGRESS.value,
                    updated_at=now,
                )
            )
    _raise_if_denied(decision.allowed, decision.rules, decision.reasons)


def complete_due_erasures(instance: Instance, *, now: datetime | None = None) -> int:
    """Crypto-shred every case whose cooling-off period has passed; returns how many."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(hours=instance.settings.erasure_cooling_off_hours)
    with instance.engine.connect() as conn:
        due = conn.execute(
            select(cases.c.id, cases.c.subject_id).where(
                and_(
                    cases.c.erasure_requested_at.is_not(None),
                    cases.c.erasure_requested_at <= cutoff,
                    cases.c.erased_at.is_(None),
                )
            )
        ).all()
    for case_id, subject_id in due:
        _erase(instance, str(case_id), str(subject_id), now)
    if due:
        # The shredded keys' old bytes may linger in SQLite's WAL or PostgreSQL's dead rows
        # until this runs: only then is the data key gone from the disk too.
        purge_remnants(instance.engine)
    return len(due)


def _erase(instance: Instance, case_id: str, subject_id: str, now: datetime) -> None:
    with instance.engine.begin() as conn:
        decision, _ = decide_and_record(
            # her request, carried out by a scheduled job (automated: POLICY.md v2)
            instance, replace(victim_actor(subject_id), system=True), case_id,
            action=Action.ERASE, purpose=Purpose.SUBJECT_ACCESS, categories=_ALL_CATEGORIES,
            detail={"event": "erased"}, conn=conn,
        )
        if not decision.allowed:
            return  # stays pending; the denial is in the ledger for an operator to see
        shred_case(instance, conn, case_id, subject_id, now)


def shred_case(instance: Instance, conn: Connection, case_id: str, subject_id: str | None,
               now: datetime) -> None:
    """Crypto-shred one case inside ``conn``'s transaction, after an allowed erase decision
    recorded in that same transaction (her erasure, or retention: services/retention.py)."""
    instance.vault.shred(conn, case_id)
    conn.execute(notes.delete().where(notes.c.case_id == case_id))
    conn.execute(evidence_files.delete().where(evidence_files.c.case_id == case_id))
    _destroy_outgoing(conn, case_id)
    conn.execute(
        update(cases).where(cases.c.id == case_id).values(
            erased_at=now, status=CaseStatus.ERASED.value, updated_at=now,
        )
    )
    if subject_id is not None:
        # The codename now opens nothing: the door goes with the data.
        conn.execute(update(subjects).where(subjects.c.id == subject_id).values(lookup_id=None))


def _destroy_outgoing(conn: Connection, case_id: str) -> None:
    """What left her case but was not yet taken in goes with it (security review, 6a).

    Packages are sealed to the recipient's key, not the case key, so shredding the case key
    leaves them readable: unaccepted ones are deleted (and can no longer be taken in);
    sealed justifications go; her standing requests end.
    """
    held = select(disclosure_requests.c.id).where(disclosure_requests.c.case_id == case_id)
    conn.execute(
        disclosure_packages.delete().where(
            and_(disclosure_packages.c.request_id.in_(held),
                 disclosure_packages.c.accepted_case_id.is_(None))
        )
    )
    conn.execute(update(disclosure_requests).where(disclosure_requests.c.case_id == case_id)
                 .values(justification_sealed=None))
    conn.execute(update(victim_requests).where(and_(victim_requests.c.case_id == case_id,
                                                    victim_requests.c.withdrawn_at.is_(None)))
                 .values(withdrawn_at=datetime.now(UTC)))


# -- third-party claim ----------------------------------------------------------------------

def issue_claim_code(instance: Instance, case_id: str, *, conn: Connection | None = None) -> str:
    """For staff filing a report on someone's behalf: a one-time code to hand to her."""
    code = new_claim_code()
    # One door for the life of a case: once claimed (or erased) it never gets a new code, or a
    # phone call to a coordinator could move her door to someone else (security review, 7).
    statement = (
        update(cases)
        .where(and_(cases.c.id == case_id, cases.c.intake == IntakeKind.THIRD_PARTY.value,
                    cases.c.subject_id.is_(None), cases.c.erased_at.is_(None)))
        .values(claim_code_hash=hash_claim_code(code))
    )
    if conn is not None:
        result = conn.execute(statement)
        state = _claim_state(conn, case_id)
    else:
        with instance.engine.begin() as own:
            result = own.execute(statement)
            state = _claim_state(own, case_id)
    if result.rowcount != 1:
        raise ClaimCodeRefused(state)
    return code


class ClaimCodeRefused(InvalidInput):
    """A claim code cannot be issued for this case; the message says why, in plain words."""

    def __init__(self, state: str) -> None:
        messages = {
            "claimed": "this report has been claimed by the person it is about: it can never "
                       "get a new claim code (her door stays hers)",
            "erased": "this report has been erased",
            "not_third_party": "claim codes are only for reports filed on someone's behalf",
        }
        super().__init__(messages.get(state, "no such report"))
        self.state = state


def _claim_state(conn: Connection, case_id: str) -> str:
    row = conn.execute(
        select(cases.c.intake, cases.c.subject_id, cases.c.erased_at).where(cases.c.id == case_id)
    ).first()
    if row is None:
        return "missing"
    if row.erased_at is not None:
        return "erased"
    if row.intake != IntakeKind.THIRD_PARTY.value:
        return "not_third_party"
    return "claimed" if row.subject_id is not None else "open"


def claim_case(
    instance: Instance, claim_code: str, *, now: datetime | None = None, language: str = "en"
) -> ClaimResult:
    """Turn a third-party report into hers: a new codename (in ``language``), shown once; the
    code is spent."""
    now = now or datetime.now(UTC)
    codename = new_codename(language)
    secret = derive(codename, codename_salt(instance), argon2_params(instance))
    with instance.engine.begin() as conn:
        row = conn.execute(
            select(cases.c.id, cases.c.reference).where(
                and_(
                    cases.c.claim_code_hash == hash_claim_code(claim_code),
                    cases.c.intake == IntakeKind.THIRD_PARTY.value,
                    cases.c.erased_at.is_(None),
                )
            )
        ).first()
        if row is None:
            raise InvalidInput("that claim code is not valid")
        subject_id = new_id()
        decision, _ = decide_and_record(
            instance, victim_actor(subject_id), str(row.id),
            action=Action.UPDATE, purpose=Purpose.SUBJECT_ACCESS,
            categories=[DataCategory.CRIME_DETAILS], detail={"event": "claimed"}, conn=conn,
        )
        if decision.allowed:
            conn.execute(subjects.insert().values(id=subject_id, lookup_id=secret.lookup_id,
                                                  created_at=now))
            conn.execute(
                update(cases).where(cases.c.id == row.id).values(
                    subject_id=subject_id, claim_code_hash=None, updated_at=now,
                )
            )
    _raise_if_denied(decision.allowed, decision.rules, decision.reasons)
    return ClaimResult(reference=str(row.reference), codename=codename)
