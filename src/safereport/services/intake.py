"""Intake: a report from the person herself, anonymous, with a codename, or with her name.

One use case, one transaction: the subject, the case, the report, her consents, the guard's
decision (the victim updating her own record for ``subject_access``, rule C-self), its ledger
entry and the sealed fields all commit together or not at all (I6: nothing half-saved).

The same service serves the web form and ``safereport report submit --json FILE``; the file's
shape is :data:`SUBMISSION_SCHEMA` (``safereport report schema`` prints it).

Anonymous means anonymous: no name, no contact details, and nothing about the request (no IP
address, no user agent) is ever passed to this service, let alone stored.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from safereport.domain.case import CaseStatus, IntakeKind, new_id
from safereport.domain.codename import (
    Argon2Params,
    CodenameSecret,
    derive,
    new_codename,
)
from safereport.domain.fields import FIELD_CATEGORY, MAX_FIELD_CHARS, CaseField
from safereport.domain.vocabulary import (
    Action,
    ActorRole,
    CrimeType,
    OrgKind,
    Purpose,
    Recipient,
    SubjectRole,
)
from safereport.errors import AccessDenied, InstanceError, InvalidInput
from safereport.services import quarantine
from safereport.services.access import Actor, decide_and_record, decide_write
from safereport.services.instance import Instance
from safereport.store.cases import NewCase, NewConsent, case_org_id, first_org_of_kind, insert_case
from safereport.store.instance_facts import InstanceValueTaken, add_instance_value, instance_value
from safereport.store.provenance import FactSource

__all__ = [
    "CONSENT_CHOICES",
    "MAX_SHORT_CHARS",
    "SUBMISSION_SCHEMA",
    "ContactChannel",
    "IntakeReceipt",
    "InvalidReport",
    "Problem",
    "ReportSubmission",
    "argon2_params",
    "codename_salt",
    "parse_submission",
    "submit_report",
    "victim_actor",
]

#: Short answers (when, where, a name, a phone number): enough, and no more.
MAX_SHORT_CHARS = 300
_SALT_KEY = "codename_salt"


class ContactChannel(StrEnum):
    CALL = "call"
    EMAIL = "email"
    TEXT = "text"


class Problem(StrEnum):
    """Why a field was refused; the web translates each into the person's language."""

    INVALID_CHOICE = "invalid_choice"
    NOT_AN_EMAIL = "not_an_email"
    NOT_A_PHONE = "not_a_phone"
    NOT_TEXT = "not_text"
    REQUIRED = "required"
    TOO_LONG = "too_long"
    UNKNOWN_FIELD = "unknown_field"
    UNREADABLE = "unreadable"


class InvalidReport(InvalidInput):
    """A submission with problems; ``problems`` maps each field to what is wrong with it."""

    def __init__(self, problems: Mapping[str, Problem]) -> None:
        listed = ", ".join(f"{name}: {problem.value}" for name, problem in problems.items())
        super().__init__(f"the report was not saved ({listed})")
        self.problems = dict(problems)


#: What a person may consent to, each a (recipient, purpose) pair of POLICY.md; all off by
#: default. The last one is the only road to the Home Office under the firewall regimes: her
#: own request, through her adviser, to sort out her own status (C-victim-directed).
CONSENT_CHOICES: tuple[tuple[Recipient, Purpose], ...] = (
    (Recipient.POLICE, Purpose.INVESTIGATION),
    (Recipient.HEALTH, Purpose.SAFEGUARDING),
    (Recipient.HOUSING, Purpose.SAFEGUARDING),
    (Recipient.LOCAL_AUTHORITY, Purpose.SAFEGUARDING),
    (Recipient.MARAC, Purpose.MARAC),
    (Recipient.IMMIGRATION_ENFORCEMENT, Purpose.REGULARISATION_SUPPORT),
)

#: Her safe times for notices, as ``services.notices.SAFE_TIMES`` names them (UK time).
SAFE_TIME_NAMES = ("morning", "afternoon", "evening")
_MODES = (IntakeKind.ANONYMOUS, IntakeKind.CODENAME, IntakeKind.IDENTIFIED)
_SHORT_FIELDS = ("occurred", "location", "name", "phone", "email", "safe_contact_note")


@dataclass(frozen=True)
class ReportSubmission:
    """A validated report, ready to be saved."""

    mode: IntakeKind
    crime_type: CrimeType
    narrative: str
    subject_role: SubjectRole = SubjectRole.VICTIM
    occurred: str = ""
    location: str = ""
    name: str = ""
    phone: str = ""
    email: str = ""
    safe_channels: frozenset[ContactChannel] = frozenset()
    safe_contact_note: str = ""
    #: When a notice may reach her (names of ``services.notices.SAFE_TIMES``); none: never.
    safe_times: frozenset[str] = frozenset()
    consents: frozenset[tuple[Recipient, Purpose]] = frozenset()
    language: str = "en"

    def sealed_values(self) -> dict[CaseField, str]:
        """The fields to seal; anonymous reports keep no identity and no contact details."""
        values = {
            CaseField.NARRATIVE: self.narrative,
            CaseField.OCCURRED: self.occurred,
            CaseField.LOCATION: self.location,
        }
        if self.mode is not IntakeKind.ANONYMOUS:
            values[CaseField.PHONE] = self.phone
            values[CaseField.EMAIL] = self.email
            values[CaseField.SAFE_CONTACT] = self._safe_contact_text()
        if self.mode is IntakeKind.IDENTIFIED:
            values[CaseField.NAME] = self.name
        return {name: value for name, value in values.items() if value}

    def _safe_contact_text(self) -> str:
        if not self.safe_channels and not self.safe_contact_note and not self.safe_times:
            return ""
        lines = [
            f"{channel.value}: {'yes' if channel in self.safe_channels else 'no'}"
            for channel in ContactChannel
        ]
        if self.safe_times:
            lines.append("times: " + ",".join(t for t in SAFE_TIME_NAMES if t in self.safe_times))
        if self.safe_contact_note:
            lines.append(f"note: {self.safe_contact_note}")
        return "\n".join(lines)


@dataclass(frozen=True)
class IntakeReceipt:
    """What the person is told: the case reference, and her codename (shown once)."""

    reference: str
    case_id: str
    codename: str | None = field(default=None, repr=False)
    #: The ledger entry that recorded it (an integration fetches its receipt by this index).
    ledger_index: int | None = None


# -- the file / form shape ------------------------------------------------------------------

def _string(max_length: int, description: str) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, "description": description}


SUBMISSION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://safereport.local/schemas/report-submission.json",
    "title": "safereport report submission",
    "description": "One report, or a list of reports, for `safereport report submit --json`.",
    "oneOf": [
        {"$ref": "#/$defs/submission"},
        {"type": "array", "items": {"$ref": "#/$defs/submission"}, "minItems": 1},
    ],
    "$defs": {
        "submission": {
            "type": "object",
            "additionalProperties": False,
            "required": ["mode", "crime_type", "narrative"],
            "properties": {
                "mode": {"enum": [m.value for m in _MODES],
                         "description": "anonymous: nothing about the person is kept; "
                         "codename: a codename is made and printed once; identified: named"},
                "crime_type": {"enum": [c.value for c in CrimeType]},
                "subject_role": {"enum": [SubjectRole.VICTIM.value, SubjectRole.WITNESS.value],
                                 "default": SubjectRole.VICTIM.value},
                "narrative": {**_string(MAX_FIELD_CHARS, "what happened"), "minLength": 1},
                "occurred": _string(MAX_SHORT_CHARS, "when, as precisely as the person wants"),
                "location": _string(MAX_SHORT_CHARS, "where, as precisely as the person wants"),
                "name": _string(MAX_SHORT_CHARS, "identified reports only"),
                "phone": _string(MAX_SHORT_CHARS, "not kept for anonymous reports"),
                "email": _string(MAX_SHORT_CHARS, "not kept for anonymous reports"),
                "safe_contact": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        **{c.value: {"type": "boolean", "default": False} for c in ContactChannel},
                        "note": _string(MAX_SHORT_CHARS, "e.g. safe times to call"),
                        "times": {"type": "array", "items": {"enum": list(SAFE_TIME_NAMES)},
                                  "description": "when a notice may reach her (UK time: "
                                  "morning 8-12, afternoon 12-17, evening 17-21); none: never"},
                    },
                },
                "consents": {
                    "type": "array",
                    "description": "consents given now; none by default",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["recipient", "purpose"],
                        "properties": {
                            "recipient": {"enum": sorted({r.value for r, _ in CONSENT_CHOICES})},
                            "purpose": {"enum": sorted({p.value for _, p in CONSENT_CHOICES})},
                        },
                    },
                },
                "language": {"type": "string", "maxLength": 8, "default": "en"},
            },
        }
    },
}


def _clean_text(name: str, value: Any, limit: int, problems: dict[str, Problem]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        problems[name] = Problem.NOT_TEXT
        return ""
    # Lone surrogates (from invalid UTF-8 decoded with surrogateescape) and U+FFFD
    # (the decoder's replacement character) mean the bytes were not text we can read.
    if "\ufffd" in value or any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        problems[name] = Problem.UNREADABLE
        return ""
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n")).strip()
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        problems[name] = Problem.UNREADABLE
        return ""
    if len(text) > limit:
        problems[name] = Problem.TOO_LONG
    return text


def _choice(name: str, value: Any, allowed: Any, problems: dict[str, Problem]) -> Any:
    if value is None or value == "":
        problems[name] = Problem.REQUIRED
        return None
    try:
        return allowed(value) if isinstance(value, str) else None
    except ValueError:
        problems[name] = Problem.INVALID_CHOICE
        return None


def _safe_contact(
    data: Any, problems: dict[str, Problem],
) -> tuple[frozenset[ContactChannel], str, frozenset[str]]:
    if data is None:
        return frozenset(), "", frozenset()
    if not isinstance(data, Mapping) or set(data) - {*ContactChannel, "note", "times"}:
        problems["safe_contact"] = Problem.INVALID_CHOICE
        return frozenset(), "", frozenset()
    times = data.get("times") or []
    if not isinstance(times, list) or any(t not in SAFE_TIME_NAMES for t in times):
        problems["safe_contact"] = Problem.INVALID_CHOICE
        times = []
    channels = set()
    for channel in ContactChannel:
        flag = data.get(channel.value, False)
        if not isinstance(flag, bool):
            problems["safe_contact"] = Problem.INVALID_CHOICE
        elif flag:
            channels.add(channel)
    note = _clean_text("safe_contact_note", data.get("note"), MAX_SHORT_CHARS, problems)
    return frozenset(channels), note, frozenset(times)


def _consents(data: Any, problems: dict[str, Problem]) -> frozenset[tuple[Recipient, Purpose]]:
    if data is None:
        return frozenset()
    chosen: set[tuple[Recipient, Purpose]] = set()
    if not isinstance(data, list):
        problems["consents"] = Problem.INVALID_CHOICE
        return frozenset()
    for item in data:
        pair = (
            (item.get("recipient"), item.get("purpose")) if isinstance(item, Mapping) else None
        )
        match = [c for c in CONSENT_CHOICES if pair == (c[0].value, c[1].value)]
        if not match or set(item) - {"recipient", "purpose"}:
            problems["consents"] = Problem.INVALID_CHOICE
            continue
        chosen.add(match[0])
    return frozenset(chosen)


def parse_submission(data: Any, *, spoken: bool = False) -> ReportSubmission:
    """Validate one submission (a mapping in :data:`SUBMISSION_SCHEMA`'s shape).

    Raises :class:`InvalidReport` naming every field at fault, so that a form can show them
    all at once and keep what the person typed. ``spoken``: she recorded (or attached) her
    answer instead of writing it, so the written one may be empty.
    """
    if not isinstance(data, Mapping):
        raise InvalidReport({"report": Problem.INVALID_CHOICE})
    problems: dict[str, Problem] = {}
    known = set(SUBMISSION_SCHEMA["$defs"]["submission"]["properties"])
    for name in sorted(set(data) - known):
        problems[str(name)[:40]] = Problem.UNKNOWN_FIELD
    mode = _choice("mode", data.get("mode"), IntakeKind, problems)
    if mode is IntakeKind.THIRD_PARTY:
        problems["mode"] = Problem.INVALID_CHOICE
    crime_type = _choice("crime_type", data.get("crime_type"), CrimeType, problems)
    role = _choice("subject_role", data.get("subject_role") or "victim", SubjectRole, problems)
    if role is SubjectRole.SUSPECT:
        problems["subject_role"] = Problem.INVALID_CHOICE
    narrative = _clean_text("narrative", data.get("narrative"), MAX_FIELD_CHARS, problems)
    if not narrative and "narrative" not in problems and not spoken:
        problems["narrative"] = Problem.REQUIRED
    short = {
        name: _clean_text(name, data.get(name), MAX_SHORT_CHARS, problems)
        for name in _SHORT_FIELDS
        if name != "safe_contact_note"
    }
    if mode is not IntakeKind.ANONYMOUS:  # anonymous: what she typed is not kept (a warning)
        _check_contact(short, problems)
    channels, note, times = _safe_contact(data.get("safe_contact"), problems)
    chosen = _consents(data.get("consents"), problems)
    language = data.get("language") or "en"
    if not isinstance(language, str) or len(language) > 8:
        problems["language"] = Problem.INVALID_CHOICE
    if problems:
        raise InvalidReport(problems)
    return ReportSubmission(
        mode=mode,
        crime_type=crime_type,
        narrative=narrative,
        subject_role=role,
        safe_channels=channels,
        safe_contact_note=note,
        safe_times=times,
        consents=chosen,
        language=language,
        **short,
    )


#: A phone number as people write one: digits (in any script), spaces, ``+``, ``-``, ``.``,
#: brackets; 7 to 15 digits (E.164 allows 15).
_PHONE = re.compile(r"^\+?[\d\s().-]+$")
#: Something, ``@``, something with a dot: enough to catch a slip ("ana@@", "ana@gmail").
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _check_contact(short: Mapping[str, str], problems: dict[str, Problem]) -> None:
    """A phone number or email address she gave must be one we could reach her on: the
    walk-through of 2026-12-03 sent "abc" and "ana@@" as her safe ways to be contacted, and
    she would have waited for a call that could never come."""
    phone, email = short.get("phone", ""), short.get("email", "")
    if phone and "phone" not in problems and not (
            _PHONE.match(phone) and 7 <= sum(c.isdigit() for c in phone) <= 15):
        problems["phone"] = Problem.NOT_A_PHONE
    if email and "email" not in problems and not _EMAIL.match(email):
        problems["email"] = Problem.NOT_AN_EMAIL


# -- instance facts -------------------------------------------------------------------------

_SALTS: dict[str, bytes] = {}


def codename_salt(instance: Instance) -> bytes:
    """The instance's fixed codename salt (made on first use, stored in ``instance_info``)."""
    cache_key = instance.engine.url.render_as_string(hide_password=False)
    if cache_key in _SALTS:
        return _SALTS[cache_key]
    with instance.engine.begin() as conn:
        value = instance_value(conn, _SALT_KEY)
    if value is None:
        try:
            with instance.engine.begin() as conn:
                value = secrets.token_hex(16)
                add_instance_value(conn, _SALT_KEY, value)
        except InstanceValueTaken:  # another worker made it first: use theirs
            with instance.engine.begin() as conn:
                value = instance_value(conn, _SALT_KEY)
            if value is None:
                raise InstanceError("the codename salt could not be read") from None
    _SALTS[cache_key] = bytes.fromhex(value)
    return _SALTS[cache_key]


def argon2_params(instance: Instance) -> Argon2Params:
    """Argon2id costs for codenames: ``settings.argon2`` (:data:`DEFAULT_PARAMS`; tests pass
    ``TEST_PARAMS``)."""
    return instance.settings.argon2


def _intake_org(conn: Connection, instance: Instance) -> str:
    org_id = first_org_of_kind(conn, OrgKind.SUPPORT_SERVICE.value,
                               instance.settings.intake_org)
    if org_id is None:
        raise InstanceError("no support service is set up to receive reports (safereport init)")
    return org_id


def victim_actor(subject_id: str) -> Actor:
    """The record's own subject, acting for herself (pseudonymous in the ledger)."""
    return Actor(id=f"subject:{subject_id}", role=ActorRole.VICTIM)


# -- the use case ---------------------------------------------------------------------------

def submit_report(
    instance: Instance,
    submission: ReportSubmission,
    *,
    now: datetime | None = None,
    door: FactSource = FactSource.SUBJECT,
    via: str | None = None,
    suspicion: str | None = None,
) -> IntakeReceipt:
    """Save one report; with a codename, make one and return it (it is not stored).

    Quarantine, not deletion (issue 19): a report with a bot's sign (``suspicion``, one of
    :data:`safereport.services.quarantine.REASONS`), or that its organisation's classifier is
    very sure is not real, is stored and sealed all the same, in the same transaction, but held
    out of the case list for a caseworker to release; its ledger entry says ``quarantine``.

    ``door`` says how it came: her own form (her consents count at once), or a bulk import
    (an integration: its consents are kept but never count, and its decisions are
    ``automated``). ``via`` names the integration that brought it (kept in the ledger entry).
    """
    detail = {"event": "report_submitted", **({"via": via} if via else {})}
    now = now or datetime.now(UTC)
    codename: str | None = None
    secret: CodenameSecret | None = None
    if submission.mode is IntakeKind.CODENAME:
        codename = new_codename(submission.language)  # words or digits she can read
        secret = derive(codename, codename_salt(instance), argon2_params(instance))
    case_id, subject_id = new_id(), new_id()
    values = submission.sealed_values()
    # A report spoken instead of written seals no field here: its recording, attached next,
    # is her account of what happened (crime_details), and that is what she writes now.
    categories = frozenset(FIELD_CATEGORY[name] for name in values) or frozenset(
        {FIELD_CATEGORY[CaseField.NARRATIVE]})
    quarantine.feature_key(instance)  # made (once) before the write transaction
    try:
        with instance.engine.begin() as conn:
            reference = _insert_case(
                conn, instance, submission, case_id, subject_id, secret, now, door
            )
            held = _quarantine_reason(conn, instance, case_id, values, door, suspicion)
            if held is not None:
                detail = {**detail, "quarantine": held[0]}
            decision, write = decide_write(
                instance,
                conn,
                replace(victim_actor(subject_id), system=door is FactSource.IMPORT),
                case_id,
                purpose=Purpose.SUBJECT_ACCESS,
                categories=categories,
                detail=detail,
            )
            if write is None:  # unreachable under the shipped regimes (C-self)
                raise AccessDenied("the report could not be saved", rules=decision.rules,
                                   reasons=decision.reasons)
            index = write.index
            write.create_key()
            write.seal_fields(values)
            if held is not None:
                quarantine.hold(conn, case_id, held[1], held[0], held[2], now)
    except AccessDenied:
        # Nothing of the report is kept, but the refusal is: recorded on its own (I2).
        decide_and_record(instance, replace(victim_actor(subject_id),
                                            system=door is FactSource.IMPORT),
                          case_id, action=Action.UPDATE, purpose=Purpose.SUBJECT_ACCESS,
                          categories=categories, detail={**detail, "event": "report_refused"})
        raise
    if held is None:  # after the commit: staff hear of it, neutrally (not of one held apart)
        from safereport.services import notices

        notices.report_received(instance, case_id)
    return IntakeReceipt(reference=reference, case_id=case_id, codename=codename,
                         ledger_index=index)


def _quarantine_reason(
    conn: Connection, instance: Instance, case_id: str, values: Mapping[CaseField, str],
    door: FactSource, suspicion: str | None,
) -> tuple[str, str, quarantine.Assessment] | None:
    """(why, organisation, the classifier's view) when the report is to be held; else None.

    Only reports through the public door are weighed (an integration's import is not a bot's).
    """
    if door is not FactSource.SUBJECT and suspicion is None:
        return None
    org_id = case_org_id(conn, case_id)
    assessment = quarantine.assess(conn, instance, org_id, values)
    if suspicion is not None:
        return suspicion, org_id, assessment
    return ("classifier", org_id, assessment) if assessment.held else None


def _insert_case(
    conn: Connection,
    instance: Instance,
    submission: ReportSubmission,
    case_id: str,
    subject_id: str,
    secret: CodenameSecret | None,
    now: datetime,
    door: FactSource = FactSource.SUBJECT,
) -> str:
    review_on = now + timedelta(days=instance.settings.consent_review_days)
    return insert_case(conn, NewCase(
        id=case_id,
        org_id=_intake_org(conn, instance),
        subject_role=submission.subject_role.value,
        crime_type=submission.crime_type.value,
        status=CaseStatus.NEW.value,
        intake=submission.mode.value,
        language=submission.language,
        created_at=now,
        subject_id=subject_id,
        subject_lookup_id=secret.lookup_id if secret else None,
        # given through her own door (or an integration's), reviewed with her after
        # consent_review_days (issue 17)
        consents=[NewConsent(recipient.value, purpose.value, door.value, review_on=review_on)
                  for recipient, purpose in sorted(submission.consents)],
    ))
