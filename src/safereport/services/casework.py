"""Casework for support services and police: case lists, the case page, notes, status, risk,
third-party reports.

Every read of case data goes through :func:`~safereport.services.access.access_case`
(guard, then ledger, then vault); every write is decided and recorded with
:func:`~safereport.services.access.decide_and_record` in the same transaction as the write.
Nothing here compares roles: the guard decides, and a denial is shown with its reasons.

Lists show only routing facts kept in clear (reference, status, crime type, dates), and only
the signed-in person's own organisation's cases.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, TypeVar

import yaml
from sqlalchemy import Connection

from safereport.domain.case import CaseStatus, IntakeKind, can_transition, new_id
from safereport.domain.fields import FIELD_CATEGORY, MAX_FIELD_CHARS, CaseField
from safereport.domain.risk import (
    DEFAULT_CHECKLIST,
    Assessment,
    Checklist,
    RiskLevel,
    assess,
    checklist_from_mapping,
)
from safereport.domain.vocabulary import (
    SENSITIVE_CATEGORIES,
    Action,
    CrimeType,
    DataCategory,
    OrgKind,
    Purpose,
    Recipient,
    SubjectRole,
)
from safereport.errors import AccessDenied, ConfigError, InvalidInput, NotFound, VaultError
from safereport.policy.decision import Grant
from safereport.services.access import (
    Actor,
    Part,
    Write,
    access_case_parts,
    decide_and_record,
    decide_write,
    find_cases,
    open_blob,
    record_failure,
)
from safereport.services.auth import StaffUser
from safereport.services.instance import Instance
from safereport.store import casework as store
from safereport.store.cases import NewCase, NewConsent, insert_case, remove_case
from safereport.store.casework import ActionList, CaseRow, NoteRow, SealedRow
from safereport.store.provenance import FactSource
from safereport.vault.blind import BlindKind

if TYPE_CHECKING:
    from safereport.services.practice import MaracAction

__all__ = [
    "CLOSURE_REASONS",
    "FIRST_CONTACT_HOURS",
    "INACTIVE_DAYS",
    "INTERPRETER_NEEDS",
    "STAFF_STATUSES",
    "CaseFilter",
    "CaseNotHeld",
    "CasePage",
    "CaseSummary",
    "FiledReport",
    "NoteView",
    "SafetyAction",
    "actor_for",
    "add_note",
    "add_safety_action",
    "assign",
    "canonical_reference",
    "case_page",
    "change_status",
    "colleagues",
    "complete_safety_action",
    "default_purpose",
    "file_third_party_report",
    "list_cases",
    "load_checklist",
    "record_not_held",
    "save_immigration_abuse",
    "save_risk_assessment",
    "search_cases",
    "search_claim_code",
    "set_language_needs",
]

RISK_CHECKLIST_FILE = "risk_checklist.yaml"
NOTE_LABEL = "staff-note:"
#: Statuses staff may set by hand; erasure has its own door (the victim's, with cooling-off).
STAFF_STATUSES = (CaseStatus.NEW, CaseStatus.IN_PROGRESS, CaseStatus.REFERRED,
                  CaseStatus.DORMANT, CaseStatus.CLOSED)
#: Statuses funders count as open (a dormant case is counted apart).
OPEN_STATUSES = frozenset({CaseStatus.NEW, CaseStatus.IN_PROGRESS, CaseStatus.REFERRED})
#: What a page asks for first; the immigration categories are asked separately so that a
#: refusal of them (F-sealed) withholds only them, with their own reason.
_GENERAL_FIELDS = tuple(f for f in CaseField if FIELD_CATEGORY[f] not in SENSITIVE_CATEGORIES)
_SENSITIVE_FIELDS = tuple(f for f in CaseField if FIELD_CATEGORY[f] in SENSITIVE_CATEGORIES)


def actor_for(user: StaffUser) -> Actor:
    """The ledger's pseudonymous view of a staff member."""
    return Actor(id=f"user:{user.id}", role=user.role, org_id=user.org_id, org_kind=user.org_kind,
                 system=user.system)


def default_purpose(user: StaffUser) -> Purpose:
    """The purpose a case page states unless the person picks another."""
    return Purpose.INVESTIGATION if user.org_kind is OrgKind.POLICE else Purpose.SUPPORT


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


# ---- lists and search -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseSummary:
    id: str
    reference: str
    status: CaseStatus
    crime_type: CrimeType
    subject_role: SubjectRole
    intake: IntakeKind
    assigned_to: str | None
    created_at: datetime
    updated_at: datetime
    #: For the list (from routing facts in clear, nothing decrypted): who holds it, whether
    #: her latest message came after the service's latest word to or about her, and when
    #: first contact is due while no member of staff has written anything yet.
    assignee: str = ""
    her_message_waiting: bool = False
    first_contact_due: datetime | None = None
    #: An open case nobody has touched for :data:`INACTIVE_DAYS` (a prompt to make it dormant).
    inactive: bool = False

    @property
    def first_contact_overdue(self) -> bool:
        return self.first_contact_due is not None and self.first_contact_due < datetime.now(UTC)


#: A new case should have a first contact (a note or message by staff) within this time.
FIRST_CONTACT_HOURS = 48
#: An open case with no change for this many days is flagged in the list as inactive.
INACTIVE_DAYS = 90


@dataclass(frozen=True, slots=True)
class CaseFilter:
    status: CaseStatus | None = None
    crime_type: CrimeType | None = None
    assigned_to_me: bool = False


def _summary(row: CaseRow) -> CaseSummary:
    return CaseSummary(
        id=row.id,
        reference=row.reference,
        status=CaseStatus(row.status),
        crime_type=CrimeType(row.crime_type),
        subject_role=SubjectRole(row.subject_role),
        intake=IntakeKind(row.intake),
        assigned_to=row.assigned_to,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def list_cases(
    instance: Instance, user: StaffUser, filters: CaseFilter = CaseFilter(), *, limit: int = 200
) -> list[CaseSummary]:
    """The organisation's cases, newest first (routing facts only: nothing is decrypted).

    Reports held in quarantine as suspected spam are not here (services/quarantine.py).
    """
    with instance.engine.connect() as conn:
        rows = store.org_case_rows(
            conn, user.org_id,
            status=filters.status.value if filters.status is not None else None,
            crime_type=filters.crime_type.value if filters.crime_type is not None else None,
            assigned_to=user.id if filters.assigned_to_me else None, limit=limit)
        return _with_flags(conn, [_summary(row) for row in rows])


def _with_flags(conn: Connection, found: list[CaseSummary]) -> list[CaseSummary]:
    """Add the assignee's name, her waiting message and the first-contact timer."""
    ids = [c.id for c in found]
    if not ids:
        return found
    latest = store.latest_note_times(conn, ids)
    holders = {c.assigned_to for c in found if c.assigned_to}
    names = store.display_names(conn, holders) if holders else {}
    flagged = []
    quiet_since = datetime.now(UTC) - timedelta(days=INACTIVE_DAYS)
    for c in found:
        hers = latest.get((c.id, "victim"))
        ours = latest.get((c.id, "staff"))
        due = None
        # Staff who filed a report for her have met her; her own reports wait for a first call.
        if (ours is None and c.intake is not IntakeKind.THIRD_PARTY
                and c.status in (CaseStatus.NEW, CaseStatus.IN_PROGRESS)):
            due = c.created_at + timedelta(hours=FIRST_CONTACT_HOURS)
        flagged.append(dataclasses.replace(
            c, assignee=str(names.get(c.assigned_to, "")) if c.assigned_to else "",
            her_message_waiting=hers is not None and (ours is None or hers > ours),
            first_contact_due=due,
            inactive=c.status in OPEN_STATUSES and c.updated_at < quiet_since))
    return flagged


def search_cases(
    instance: Instance, user: StaffUser, kind: BlindKind, value: str
) -> list[CaseSummary]:
    """Exact search by reference or phone through the vault's blind index.

    A match says "this number belongs to that case", so each match is decided by the guard
    (as a view of the case's contact or reference) and recorded; only allowed matches show.
    """
    with instance.engine.connect() as conn:
        found = set(find_cases(instance, conn, kind, value))
        if kind is BlindKind.REFERENCE:
            found |= _by_reference(conn, value)
        rows = store.org_cases_among(conn, user.org_id, found)
    category = (
        DataCategory.CRIME_DETAILS if kind is BlindKind.REFERENCE else DataCategory.CONTACT
    )
    return _decided_matches(instance, user, rows, category, f"search_{kind.value}")


def _decided_matches(instance: Instance, user: StaffUser, rows: Iterable[CaseRow],
                     category: DataCategory, event: str) -> list[CaseSummary]:
    """The matches the guard allows this person to see, each decided and recorded."""
    shown: list[CaseSummary] = []
    for row in rows:
        decision, _ = decide_and_record(
            instance,
            actor_for(user),
            row.id,
            action=Action.VIEW,
            purpose=default_purpose(user),
            categories=[category],
            detail={"event": event},
        )
        if decision.allowed:
            shown.append(_summary(row))
    with instance.engine.connect() as conn:
        return _with_flags(conn, shown)


def search_claim_code(instance: Instance, user: StaffUser, code: str) -> list[CaseSummary]:
    """A report filed by staff for her, found by the claim code on her slip (not yet claimed:
    a claimed code is spent). The match is decided and recorded like any search."""
    from safereport.domain.codename import hash_claim_code

    if not code.strip():
        return []
    with instance.engine.connect() as conn:
        rows = store.org_cases_by_claim_code(conn, user.org_id, hash_claim_code(code))
    return _decided_matches(instance, user, rows, DataCategory.CRIME_DETAILS,
                            "search_claim_code")


def canonical_reference(value: str) -> str:
    """A reference as typed or read out (any case, spaces or dashes) in the form cases keep.

    References are kept in clear as ``SR-XXXX-XXXX-XXXX`` on every case, whatever its intake
    route; only staff-filed (and demo) cases also put them in the blind index. The earlier
    search compared the typed reference, stripped of its dashes, with that column, so a
    report made on the website could not be found by the reference the list showed.
    """
    from safereport.vault.blind import normalise

    reference = normalise(BlindKind.REFERENCE, value)
    if len(reference) == 14 and reference.startswith("SR"):
        body = reference[2:]
        return f"SR-{body[:4]}-{body[4:8]}-{body[8:]}"
    return reference


def _by_reference(conn: Connection, value: str) -> set[str]:
    reference = canonical_reference(value)
    return store.case_ids_by_reference(conn, reference)


# ---- the case page --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteView:
    id: str
    author: str
    author_kind: str
    visible_to_subject: bool
    created_at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class SafetyAction:
    id: str
    text: str
    owner: str
    due_on: datetime
    done_at: datetime | None

    @property
    def overdue(self) -> bool:
        return self.done_at is None and self.due_on < datetime.now(UTC)


@dataclass(frozen=True)
class CasePage:
    summary: CaseSummary
    purpose: Purpose
    values: dict[CaseField, str] = field(default_factory=dict)
    withheld: dict[CaseField, str] = field(default_factory=dict)
    notes: list[NoteView] = field(default_factory=list)
    notes_withheld: str = ""
    rules: tuple[str, ...] = ()
    risk: Assessment | None = None
    #: The display name of the person the case is assigned to ("" if nobody).
    assignee: str = ""
    #: Why it was closed, in words (only while it is closed).
    closure: str = ""
    #: Her safety plan's actions, oldest first (empty when notes are withheld).
    safety_plan: list[SafetyAction] = field(default_factory=list)
    #: Outcome scores by stage ("entry", "exit") and measure (empty when notes are withheld).
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    #: The MARAC meeting's actions recorded against the case (empty when notes are withheld).
    marac_actions: list[MaracAction] = field(default_factory=list)
    #: Whether the guard allowed the sensitive part (nationality, immigration status and
    #: immigration abuse: F-sealed), whatever of it holds a value.
    sensitive_allowed: bool = False

    @property
    def internal_notes(self) -> list[NoteView]:
        """Notes only staff read (kept apart from what passes between her and the service)."""
        return [n for n in self.notes if not n.visible_to_subject and n.author_kind != "victim"]

    @property
    def messages_with_her(self) -> list[NoteView]:
        """Messages shown on her return page, and hers to the service, oldest first."""
        return [n for n in self.notes if n.visible_to_subject or n.author_kind == "victim"]


class CaseNotHeld(NotFound):
    """Raised for a case id the person's organisation does not hold (or that does not exist).

    It reads "no such case" either way (no probing across organisations), and the attempt is
    a denial on record: callers pass it through :func:`record_not_held` outside their
    transaction (I2: every refusal is in the ledger).
    """

    def __init__(self) -> None:
        super().__init__("no such case")


def _case_row(conn: Connection, user: StaffUser, case_id: str) -> CaseSummary:
    row = store.case_row(conn, case_id)
    # Another organisation's case looks exactly like a missing one (no probing across orgs).
    if row is None or row.org_id != user.org_id or row.erased_at is not None:
        raise CaseNotHeld()
    return _summary(row)


def record_not_held(
    instance: Instance, user: StaffUser, case_id: str, action: Action, event: str
) -> None:
    """Commit the denial of an attempt on a case the organisation does not hold."""
    # ``case_not_held`` is the road's own fact: the guard refuses under S-not-held (POLICY.md
    # section 6) whatever the regime would say of a cross-organisation request, and the
    # refusal names the case tried (S-unknown-case when no case has that id).
    decide_and_record(
        instance,
        actor_for(user),
        case_id,
        action=action,
        purpose=default_purpose(user),
        categories=[DataCategory.CASE_NOTES],
        context={"case_not_held": True},
        detail={"event": event},
    )


def case_page(
    instance: Instance, user: StaffUser, case_id: str, purpose: Purpose | None = None
) -> CasePage:
    """The case as the guard allows this person to see it for ``purpose``.

    Two decisions: the general categories (with case notes), then the immigration categories,
    so that a refusal of the latter (F-sealed) withholds only those fields, with its reason.
    """
    stated = purpose or default_purpose(user)
    try:
        with instance.engine.connect() as conn:
            summary = _case_row(conn, user, case_id)
            # Held: which of the page's lists the case has none of, in one statement; read
            # through the page's one connection (services/case_page.py), those lists are
            # then not read again (issue 13).
            store.hold_case_page(conn, case_id)
    except CaseNotHeld:
        record_not_held(instance, user, case_id, Action.VIEW, "case_page")
        raise
    actor = actor_for(user)
    values: dict[CaseField, str] = {}
    withheld: dict[CaseField, str] = {}
    rules: list[str] = []
    grant: Grant | None = None
    notes_reason = ""
    sensitive_allowed = False
    general_categories = {FIELD_CATEGORY[f] for f in _GENERAL_FIELDS} | {DataCategory.CASE_NOTES}
    parts = (
        Part(tuple(_GENERAL_FIELDS), frozenset(general_categories)),
        Part(tuple(_SENSITIVE_FIELDS), frozenset(FIELD_CATEGORY[f] for f in _SENSITIVE_FIELDS)),
    )
    # Both decisions in one group commit (one wait for the ledger, not two): issue 13.
    opened = access_case_parts(instance, actor, case_id, parts, purpose=stated)
    for part, access in zip(parts, opened, strict=True):
        names, categories = part.fields, part.categories
        if isinstance(access, AccessDenied):
            exc = access
            reason = _denial_text(exc)
            withheld.update({name: reason for name in names})
            rules.extend(exc.rules)
            if DataCategory.CASE_NOTES in categories:
                notes_reason = reason
            continue
        values.update(access.values)
        withheld.update({name: _vault_reason(why) for name, why in access.withheld.items()})
        rules.extend(access.decision.rules)
        sensitive_allowed = sensitive_allowed or part is parts[1]
        if DataCategory.CASE_NOTES in categories:
            grant = access.grant
    note_views = _open_notes(instance, actor, grant, case_id) if grant is not None else []
    plan = _open_safety_plan(instance, actor, grant, case_id) if grant is not None else []
    outcomes: dict[str, dict[str, int]] = {}
    marac: list[MaracAction] = []
    if grant is not None:  # shown only under the page's allowed decision on her case notes
        from safereport.services import practice

        outcomes = practice.outcome_scores(instance, case_id)
        marac = practice.open_marac_actions(instance, actor, grant, case_id)
    assignee = closure = ""
    with instance.engine.connect() as conn:
        if summary.assigned_to:
            assignee = store.display_name(conn, summary.assigned_to) or ""
        if summary.status is CaseStatus.CLOSED:
            latest = store.latest_closure_reason(conn, case_id)
            closure = CLOSURE_REASONS.get(str(latest), "") if latest else ""
    return CasePage(
        summary=summary,
        purpose=stated,
        values=values,
        withheld=withheld,
        notes=note_views,
        notes_withheld=notes_reason,
        rules=tuple(dict.fromkeys(rules)),
        risk=_risk_from(values),
        assignee=assignee,
        closure=closure,
        safety_plan=plan,
        outcomes=outcomes,
        marac_actions=marac,
        sensitive_allowed=sensitive_allowed,
    )


_VAULT_REASONS = {
    "not_in_decision": "Withheld: the decision did not cover this kind of data",
    "redact_immigration": "Withheld: the decision requires nationality and immigration status "
                          "to be removed (redact_immigration)",
}


def _vault_reason(reason: str) -> str:
    return _VAULT_REASONS.get(str(reason), f"Withheld: {reason}")


def _denial_text(exc: AccessDenied) -> str:
    reasons = "; ".join(exc.reasons) if exc.reasons else "no rule allows it"
    return f"Withheld: {reasons} (rules: {', '.join(exc.rules) or 'C-default'})"


def _risk_from(values: Mapping[CaseField, str]) -> Assessment | None:
    raw = values.get(CaseField.RISK_ANSWERS)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return Assessment(
            answers=data["answers"],
            yes_count=int(data["yes"]),
            computed=RiskLevel(data["computed"]),
            level=RiskLevel(data["level"]),
            judgement_reason=str(data.get("judgement_reason", "")),
            threshold=int(data["threshold"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _open_notes(instance: Instance, actor: Actor, grant: Grant, case_id: str) -> list[NoteView]:
    opened = []
    failed = 0
    with instance.engine.connect() as conn:
        for row in store.note_rows(conn, case_id):
            try:
                text = open_blob(
                    instance, conn, grant, case_id, DataCategory.CASE_NOTES, _note_label(row),
                    row.sealed,
                )
            except VaultError:
                text = b"(this note could not be opened)"
                failed += 1
            opened.append(
                NoteView(
                    id=row.id,
                    author=row.author_name or row.author_kind,
                    author_kind=row.author_kind,
                    visible_to_subject=row.visible_to_subject,
                    created_at=row.created_at,
                    text=text.decode("utf-8"),
                )
            )
    if failed:
        # The page still shows, but what could not be opened is a denial on record (I2).
        record_failure(instance, actor, case_id, grant.decision, "vault_error",
                       detail={"notes_unopened": str(failed)})
    return opened


def _note_label(row: NoteRow) -> str:
    # Messages the victim can read use the victim side's label so that her page opens them.
    from safereport.services.victim import message_label

    if row.visible_to_subject:
        return message_label(row.id)
    return NOTE_LABEL + row.id


# ---- writes ---------------------------------------------------------------------------------


def _decide_write(
    instance: Instance,
    conn: Connection,
    user: StaffUser,
    case_id: str,
    categories: Iterable[DataCategory],
    event: str,
) -> Write:
    decision, write = decide_write(
        instance,
        conn,
        actor_for(user),
        case_id,
        purpose=default_purpose(user),
        categories=categories,
        detail={"event": event},
    )
    if write is None:
        raise AccessDenied(
            "not allowed: " + "; ".join(decision.reasons or ("no rule allows it",)),
            rules=decision.rules,
            reasons=decision.reasons,
        )
    return write


def _committed_denial(
    instance: Instance,
    work: Callable[[Connection], None],
    *,
    user: StaffUser | None = None,
    case_id: str = "",
    event: str = "",
) -> None:
    """Run ``work(conn)``; if the guard says no, commit the denial's ledger entry, then raise.

    With ``user``, an attempt on a case the organisation does not hold is a denial on record.
    """
    denial: AccessDenied | CaseNotHeld | None = None
    try:
        with instance.engine.begin() as conn:
            try:
                work(conn)
            except (AccessDenied, CaseNotHeld) as exc:
                # The write did not happen (work raises before writing); the denial must commit.
                denial = exc
    except VaultError as exc:
        # The vault could not seal (the case key is gone): the write and its 'allow' entry
        # rolled back together, so the refusal is committed on its own (I2), not a 500.
        if user is not None:
            record_failure(instance, actor_for(user), case_id, None, "vault_error",
                           detail={"event": event})
        raise AccessDenied("not allowed: the protected data could not be sealed") from exc
    if isinstance(denial, CaseNotHeld) and user is not None:
        record_not_held(instance, user, case_id, Action.UPDATE, event)
    if denial is not None:
        raise denial


def add_note(
    instance: Instance,
    user: StaffUser,
    case_id: str,
    text: str,
    *,
    visible_to_subject: bool = False,
    now: datetime | None = None,
) -> str:
    """Seal and add a note (optionally a message the victim sees on her return page)."""
    body = text.strip()
    if not body:
        raise InvalidInput("the note is empty")
    if len(body) > MAX_FIELD_CHARS:
        raise InvalidInput(f"a note holds at most {MAX_FIELD_CHARS} characters")
    if visible_to_subject:
        _check_she_can_read(instance, case_id)
    note_id = new_id()

    def work(conn: Connection) -> None:
        _case_row(conn, user, case_id)
        write = _decide_write(instance, conn, user, case_id, [DataCategory.CASE_NOTES],
                              "note_added")
        insert_note(write, conn, note_id, body, author_id=user.id,
                    author_kind="staff", visible_to_subject=visible_to_subject, now=_now(now))

    _committed_denial(instance, work, user=user, case_id=case_id, event="note_added")
    if visible_to_subject:  # after the commit: her neutral notice, if she chose a safe channel
        from safereport.services import notices

        notices.reply_written(instance, case_id, user.id)
    return note_id


def _check_she_can_read(instance: Instance, case_id: str) -> None:
    """A message to her needs a page she reads it on: her codename's, or the one a claim code
    will open (the door a disclosure's notice needs too). Otherwise it would sit in the case,
    shown as sent, never read (the walk-through of 2026-12-03): refused, so the caseworker
    reaches her another way."""
    from safereport.services.disclosure.workflow import _Door, _door

    with instance.engine.connect() as conn:
        door = _door(conn, case_id)
    if door is _Door.NEVER:
        raise InvalidInput(
            "she has no page to read a message on (this report was made without a codename): "
            "nothing was sent; keep it as a note and reach her by the safe way to contact her")


def insert_note(
    write: Write,
    conn: Connection,
    note_id: str,
    text: str,
    *,
    author_id: str | None,
    author_kind: str,
    visible_to_subject: bool,
    now: datetime,
) -> None:
    """Seal ``text`` under the case's key and store it (the caller has decided and recorded)."""
    from safereport.services.victim import message_label

    label = message_label(note_id) if visible_to_subject else NOTE_LABEL + note_id
    case_id = write.case_id
    sealed = write.seal_blob(DataCategory.CASE_NOTES, label, text.encode("utf-8"))
    store.insert_note_row(conn, note_id, case_id, sealed, author_id=author_id,
                          author_kind=author_kind, visible_to_subject=visible_to_subject,
                          now=now)


#: Why a case is closed: the closed list funders and commissioners count (issue 17).
CLOSURE_REASONS: dict[str, str] = {
    "support_completed": "Support completed: what she wanted is done",
    "declined": "She declined support",
    "dropped_out": "She stopped responding (dropped out)",
    "moved_on": "She moved away, or was transferred to another area or service",
    "referred_on": "Referred on: another service holds it now",
    "unsafe_contact": "No safe way to contact her",
    "transferred": "Transferred to another area: the service there took it in",
    "other": "Another reason",
}


def set_status(conn: Connection, case_id: str, current: CaseStatus, target: CaseStatus, *,
               by: str | None, now: datetime, closure_reason: str = "") -> None:
    """Write a status change and its history row (the caller has decided and recorded it)."""
    store.record_status_change(conn, case_id, current, target, by=by, now=now,
                               closure_reason=closure_reason)


def change_status(
    instance: Instance,
    user: StaffUser,
    case_id: str,
    new_status: CaseStatus | str,
    *,
    closure_reason: str = "",
    now: datetime | None = None,
) -> None:
    """Move the case to ``new_status``; closing it needs a reason from :data:`CLOSURE_REASONS`."""
    try:
        target = CaseStatus(new_status)
    except ValueError as exc:
        raise InvalidInput(f"unknown status {new_status!r}") from exc
    if target not in STAFF_STATUSES:
        raise InvalidInput("erasure is started by the person herself, not from the case page")

    def work(conn: Connection) -> None:
        current = _case_row(conn, user, case_id).status
        if not can_transition(current, target):
            raise InvalidInput(f"a {current.value} case cannot become {target.value}")
        if target is CaseStatus.CLOSED and closure_reason not in CLOSURE_REASONS:
            raise InvalidInput("choose why the case is closed")
        _decide_write(instance, conn, user, case_id, [DataCategory.CASE_NOTES], "status")
        set_status(conn, case_id, current, target, by=user.id, now=_now(now),
                   closure_reason=closure_reason)

    _committed_denial(instance, work, user=user, case_id=case_id, event="status")


# ---- the risk checklist ---------------------------------------------------------------------


#: The last checklist read from each file, with the file's inode, modification time and size:
#: a file is parsed again only when it changes (the case page shows it on every view: issue 13).
_CHECKLISTS: dict[Path, tuple[tuple[int, int, int], Checklist]] = {}


def load_checklist(instance: Instance) -> Checklist:
    """``<data dir>/risk_checklist.yaml`` if present, else the built-in checklist."""
    path = Path(instance.settings.data_dir) / RISK_CHECKLIST_FILE
    try:
        found = path.stat()
    except OSError:
        return DEFAULT_CHECKLIST
    if not S_ISREG(found.st_mode):
        return DEFAULT_CHECKLIST
    version = (found.st_ino, found.st_mtime_ns, found.st_size)
    known = _CHECKLISTS.get(path)
    if known is not None and known[0] == version:
        return known[1]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the risk checklist {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must be a mapping with 'items'")
    try:
        checklist = checklist_from_mapping(data)
    except InvalidInput as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    _CHECKLISTS[path] = (version, checklist)
    return checklist


def save_risk_assessment(
    instance: Instance,
    user: StaffUser,
    case_id: str,
    answers: Mapping[str, str],
    *,
    judgement: str | None = None,
    judgement_reason: str = "",
) -> Assessment:
    """Assess (refusing a downgrade, with the reason) and seal the answers and the level."""
    result = assess(
        load_checklist(instance), answers, judgement=judgement, judgement_reason=judgement_reason
    )

    def work(conn: Connection) -> None:
        _case_row(conn, user, case_id)
        write = _decide_write(instance, conn, user, case_id, [DataCategory.RISK_ASSESSMENT],
                              "risk")
        write.seal_fields(
            {CaseField.RISK_ANSWERS: result.to_json(), CaseField.RISK_LEVEL: result.level.value},
        )

    _committed_denial(instance, work, user=user, case_id=case_id, event="risk")
    return result


# ---- third-party reports --------------------------------------------------------------------


@dataclass(frozen=True)
class FiledReport:
    case_id: str
    reference: str
    claim_code: str = field(repr=False)


def file_third_party_report(
    instance: Instance,
    user: StaffUser,
    *,
    crime_type: CrimeType,
    subject_role: SubjectRole,
    values: Mapping[CaseField, str],
    consents_given: Iterable[tuple[Recipient, Purpose]] = (),
    language: str = "en",
    now: datetime | None = None,
) -> FiledReport:
    """File a report on the victim's behalf; she claims it later with the claim code."""
    from safereport.services.claim import issue_claim_code

    moment = _now(now)
    kept = {CaseField(k): v.strip() for k, v in values.items() if v and v.strip()}
    if CaseField.NARRATIVE not in kept:
        raise InvalidInput("a report needs an account of what happened")
    if any(len(v) > MAX_FIELD_CHARS for v in kept.values()):
        raise InvalidInput(f"a field holds at most {MAX_FIELD_CHARS} characters")
    case_id = new_id()
    holder: dict[str, str] = {}

    def work(conn: Connection) -> None:
        reference = insert_case(conn, NewCase(
            id=case_id, org_id=user.org_id, subject_role=SubjectRole(subject_role).value,
            crime_type=CrimeType(crime_type).value, status=CaseStatus.NEW.value,
            intake=IntakeKind.THIRD_PARTY.value, language=language, created_at=moment,
            assigned_to=user.id, filed_by=user.id,
            # Recorded by this staff member on her behalf: it waits for a colleague's
            # confirmation and counts for nothing until then (POLICY.md v2).
            consents=[NewConsent(recipient.value, purpose.value, FactSource.STAFF.value,
                                 recorded_by=user.id)
                      for recipient, purpose in sorted(set(consents_given))]))
        categories = {FIELD_CATEGORY[name] for name in kept}
        try:
            write = _decide_write(instance, conn, user, case_id, categories,
                                  "third_party_report")
        except AccessDenied:
            remove_case(conn, case_id)  # nothing is kept but the denial
            raise
        write.create_key()
        write.seal_fields(kept)
        _index(write, kept, reference)
        holder["reference"] = reference
        holder["code"] = issue_claim_code(instance, case_id, conn=conn)

    _committed_denial(instance, work, user=user, case_id=case_id, event="third_party_report")
    return FiledReport(case_id=case_id, reference=holder["reference"], claim_code=holder["code"])


def _index(write: Write, kept: Mapping[CaseField, str], reference: str) -> None:
    write.index_value(BlindKind.REFERENCE, reference)
    phone = kept.get(CaseField.PHONE)
    if phone:
        # not a phone number we can normalise: kept, but not searchable
        with contextlib.suppress(InvalidInput):
            write.index_value(BlindKind.PHONE, phone)


# ---- her language and interpreter needs -----------------------------------------------------

#: The interpreter needs staff can tick (issue 17), in the words kept in the sealed field.
INTERPRETER_NEEDS: dict[str, str] = {
    "needed": "Needs an interpreter",
    "female": "A female interpreter",
    "not_community": "Not an interpreter from her own community",
    "not_family": "Never a family member or partner as interpreter",
}
MAX_LANGUAGE_CHARS = 200


def set_language_needs(
    instance: Instance,
    user: StaffUser,
    case_id: str,
    *,
    language: str,
    needs: Iterable[str] = (),
    note: str = "",
) -> None:
    """Seal her language and interpreter needs (category ``contact``), decided and recorded."""
    spoken = " ".join(language.split())
    if len(spoken) > MAX_LANGUAGE_CHARS:
        raise InvalidInput(f"the language holds at most {MAX_LANGUAGE_CHARS} characters")
    chosen = list(dict.fromkeys(needs))
    unknown = [n for n in chosen if n not in INTERPRETER_NEEDS]
    if unknown:
        raise InvalidInput("unknown interpreter need: " + ", ".join(sorted(unknown)))
    extra = " ".join(note.split())
    if len(extra) > MAX_LANGUAGE_CHARS:
        raise InvalidInput(f"the interpreter note holds at most {MAX_LANGUAGE_CHARS} characters")
    lines = [INTERPRETER_NEEDS[n] for n in INTERPRETER_NEEDS if n in chosen]
    if extra:
        lines.append(extra)
    interpreter = "; ".join(lines) or "No interpreter needed"
    if not spoken:
        raise InvalidInput("say which language she speaks (for example 'Arabic; reads little "
                           "English')")

    def work(conn: Connection) -> None:
        _case_row(conn, user, case_id)
        write = _decide_write(instance, conn, user, case_id, [DataCategory.CONTACT], "language")
        write.seal_fields({CaseField.LANGUAGE: spoken, CaseField.INTERPRETER: interpreter})
        _touch(conn, case_id)

    _committed_denial(instance, work, user=user, case_id=case_id, event="language")


def _touch(conn: Connection, case_id: str) -> None:
    store.touch_case(conn, case_id, _now(None))


# ---- the immigration-related abuse checklist ------------------------------------------------


def save_immigration_abuse(
    instance: Instance,
    user: StaffUser,
    case_id: str,
    answers: Mapping[str, str],
    *,
    note: str = "",
) -> None:
    """Seal her answers in ``immigration_abuse`` (POLICY.md v2), decided and recorded.

    The category is sealed (F-sealed): only her own support service's caseworkers and
    supervisors can write or read it, and a disclosure of it to Immigration Enforcement is
    denied unless she asked for it (C-abuse-evidence).
    """
    from safereport.domain.risk import record_immigration_abuse

    sealed = record_immigration_abuse(answers, note)

    def work(conn: Connection) -> None:
        _case_row(conn, user, case_id)
        write = _decide_write(instance, conn, user, case_id, [DataCategory.IMMIGRATION_ABUSE],
                              "immigration_abuse")
        write.seal_fields({CaseField.IMMIGRATION_ABUSE: sealed})
        _touch(conn, case_id)

    _committed_denial(instance, work, user=user, case_id=case_id, event="immigration_abuse")


# ---- assignment and hand-over ---------------------------------------------------------------

#: Roles that can hold a case of their organisation.
_CASE_HOLDING_ROLES = ("caseworker", "supervisor", "police_officer")


def colleagues(instance: Instance, user: StaffUser) -> list[tuple[str, str]]:
    """(id, display name) of the people in the user's organisation who can hold a case."""
    with instance.engine.connect() as conn:
        return colleagues_in(conn, user)


def colleagues_in(conn: Connection, user: StaffUser) -> list[tuple[str, str]]:
    """:func:`colleagues` through an open connection (the case page lends its own)."""
    return store.case_holders(conn, user.org_id, _CASE_HOLDING_ROLES)


def assign(instance: Instance, user: StaffUser, case_id: str, assignee_id: str) -> None:
    """Assign (or hand over) the case to a colleague, decided as an update and recorded."""
    if assignee_id not in {cid for cid, _ in colleagues(instance, user)}:
        raise InvalidInput("choose a colleague who can hold this case")

    def work(conn: Connection) -> None:
        _case_row(conn, user, case_id)
        _decide_write(instance, conn, user, case_id, [DataCategory.CASE_NOTES], "assigned")
        store.assign_case(conn, case_id, assignee_id, _now(None))

    _committed_denial(instance, work, user=user, case_id=case_id, event="assigned")


# ---- her safety plan: actions with owners and dates -----------------------------------------

SAFETY_LABEL = "safety-plan:"
MAX_ACTION_CHARS = 1000


def add_safety_action(
    instance: Instance,
    user: StaffUser,
    case_id: str,
    text: str,
    *,
    owner_id: str,
    due: str,
) -> str:
    """Add an action to her safety plan: what (sealed), who owns it, by when (a date)."""
    body = " ".join(text.split())
    if not body:
        raise InvalidInput("say what is to be done")
    if len(body) > MAX_ACTION_CHARS:
        raise InvalidInput(f"an action holds at most {MAX_ACTION_CHARS} characters")
    due_on = due_date(due)
    if owner_id not in {cid for cid, _ in colleagues(instance, user)}:
        raise InvalidInput("choose who owns the action: a colleague who can hold this case")
    action_id = new_id()

    def work(conn: Connection) -> None:
        _case_row(conn, user, case_id)
        write = _decide_write(instance, conn, user, case_id, [DataCategory.CASE_NOTES],
                              "safety_plan")
        sealed = write.seal_blob(DataCategory.CASE_NOTES, SAFETY_LABEL + action_id,
                                 body.encode("utf-8"))
        store.insert_safety_action(conn, action_id, case_id, sealed, owner_id=owner_id,
                                   due_on=due_on, created_by=user.id, now=_now(None))
        _touch(conn, case_id)

    _committed_denial(instance, work, user=user, case_id=case_id, event="safety_plan")
    return action_id


def complete_safety_action(
    instance: Instance, user: StaffUser, case_id: str, action_id: str
) -> None:
    """Mark an action of the case's safety plan done (decided and recorded)."""
    complete_action(instance, user, case_id, action_id, ActionList.SAFETY_PLAN, "safety_done",
                    "no such open action on this case")


def complete_action(instance: Instance, user: StaffUser, case_id: str, action_id: str,
                    actions: ActionList, event: str, missing: str) -> None:
    """Mark one open action of ``actions`` (a safety plan's, a MARAC's) done: an update of the
    case's notes, decided and recorded with ``event``; ``missing`` if there is none open."""

    def work(conn: Connection) -> None:
        _case_row(conn, user, case_id)
        _decide_write(instance, conn, user, case_id, [DataCategory.CASE_NOTES], event)
        if not store.mark_action_done(conn, actions, action_id, case_id, _now(None)):
            raise NotFound(missing)

    _committed_denial(instance, work, user=user, case_id=case_id, event=event)


def _open_safety_plan(instance: Instance, actor: Actor, grant: Grant,
                      case_id: str) -> list[SafetyAction]:
    return [SafetyAction(row.id, text, row.owner_name, row.due_on, row.done_at)
            for row, text in open_sealed_rows(instance, actor, grant, case_id,
                                              store.safety_plan_rows, SAFETY_LABEL,
                                              "safety_actions_unopened")]


_Sealed = TypeVar("_Sealed", bound=SealedRow)


def open_sealed_rows(instance: Instance, actor: Actor, grant: Grant, case_id: str,
                     read: Callable[[Connection, str], Sequence[_Sealed]], label: str,
                     failure_detail: str) -> list[tuple[_Sealed, str]]:
    """Each row ``read`` finds for the case, with its sealed text opened under the page's
    Grant (a row's label is ``label`` and its id).

    A row that cannot be opened shows a plain line, and the failure is a denial on record (I2).
    """
    opened: list[tuple[_Sealed, str]] = []
    failed = 0
    with instance.engine.connect() as conn:
        for row in read(conn, case_id):
            try:
                text = open_blob(instance, conn, grant, case_id, DataCategory.CASE_NOTES,
                                 label + row.id, row.sealed)
            except VaultError:
                text = b"(this could not be opened)"
                failed += 1
            opened.append((row, text.decode("utf-8")))
    if failed:
        record_failure(instance, actor, case_id, grant.decision, "vault_error",
                       detail={failure_detail: str(failed)})
    return opened


def due_date(due: str) -> datetime:
    """A due date typed as YYYY-MM-DD, as the end of that day (UTC)."""
    try:
        day = datetime.strptime(due.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInput("give the date it is due as YYYY-MM-DD") from exc
    return day + timedelta(hours=23, minutes=59)
