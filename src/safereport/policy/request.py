"""Requests in docs/spec/POLICY.md's exact shape: build them, and refuse the invalid ones.

A request is checked here, in Python, before Cedar is asked: closed vocabularies, strict types
(a boolean is ``true`` or ``false``, never 0, 1 or a string), no missing or extra field, and
the cross-field rules of POLICY.md section 2. An invalid request is never an error that lets
anything through: the guard turns :class:`InvalidInput` into a denial with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from safereport.domain.vocabulary import (
    Action,
    ActorRole,
    CrimeType,
    DataCategory,
    HolderKind,
    Purpose,
    Recipient,
    StatusEvidence,
    SubjectRole,
)
from safereport.errors import InvalidInput

__all__ = ["CONTEXT_FLAGS", "ParsedRequest", "make_request", "parse_request"]

#: The boolean fields of ``context``, in POLICY.md order.
CONTEXT_FLAGS = (
    "consent",
    "victim_initiated",
    "automated",
    "proceedings_ongoing",
    "harm_intelligence",
    "emergency",
)
_TOP_FIELDS = frozenset(
    {"actor", "holder", "action", "purpose", "recipient", "subject", "data", "context"}
)
_CONTEXT_FIELDS = frozenset({"crime_type", "status_evidence", *CONTEXT_FLAGS})
_NEEDS_RECIPIENT = frozenset({Action.DISCLOSE, Action.PUBLISH_STATISTICS})
_SUPPORT_STAFF = frozenset({ActorRole.CASEWORKER, ActorRole.SUPERVISOR})
_POLICE_ROLES = frozenset({ActorRole.POLICE_OFFICER, ActorRole.POLICE_SYSTEM})

_E = TypeVar("_E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """A valid request, typed. ``data`` is a set: duplicates in the input are ignored."""

    actor_role: ActorRole
    same_org: bool
    holder: HolderKind
    action: Action
    purpose: Purpose
    recipient: Recipient
    subject_role: SubjectRole
    data: frozenset[DataCategory]
    crime_type: CrimeType
    status_evidence: StatusEvidence
    consent: bool
    victim_initiated: bool
    automated: bool
    proceedings_ongoing: bool
    harm_intelligence: bool
    emergency: bool

    def rest_key(self) -> tuple[object, ...]:
        """Everything Cedar reads except the category and ``single_category``."""
        return (
            self.actor_role,
            self.same_org,
            self.holder,
            self.action,
            self.purpose,
            self.recipient,
            self.subject_role,
            self.crime_type,
            self.status_evidence,
            self.consent,
            self.victim_initiated,
            self.automated,
            self.proceedings_ongoing,
            self.harm_intelligence,
            self.emergency,
        )

    def as_dict(self) -> dict[str, Any]:
        """The request in POLICY.md's shape (``data`` sorted)."""
        return make_request(
            actor_role=self.actor_role,
            same_org=self.same_org,
            holder=self.holder,
            action=self.action,
            purpose=self.purpose,
            recipient=self.recipient,
            subject_role=self.subject_role,
            data=sorted(self.data),
            crime_type=self.crime_type,
            status_evidence=self.status_evidence,
            consent=self.consent,
            victim_initiated=self.victim_initiated,
            automated=self.automated,
            proceedings_ongoing=self.proceedings_ongoing,
            harm_intelligence=self.harm_intelligence,
            emergency=self.emergency,
        )


def make_request(
    *,
    actor_role: ActorRole | str,
    same_org: bool,
    holder: HolderKind | str,
    action: Action | str,
    purpose: Purpose | str,
    recipient: Recipient | str,
    subject_role: SubjectRole | str,
    data: Iterable[DataCategory | str],
    crime_type: CrimeType | str,
    status_evidence: StatusEvidence | str = StatusEvidence.NONE,
    consent: bool = False,
    victim_initiated: bool = False,
    automated: bool = False,
    proceedings_ongoing: bool = False,
    harm_intelligence: bool = False,
    emergency: bool = False,
) -> dict[str, Any]:
    """A request dict in POLICY.md's exact shape. Values are not checked here: the guard does."""
    return {
        "actor": {"role": str(actor_role), "same_org": same_org},
        "holder": str(holder),
        "action": str(action),
        "purpose": str(purpose),
        "recipient": str(recipient),
        "subject": {"role": str(subject_role)},
        "data": [str(category) for category in data],
        "context": {
            "crime_type": str(crime_type),
            "status_evidence": str(status_evidence),
            "consent": consent,
            "victim_initiated": victim_initiated,
            "automated": automated,
            "proceedings_ongoing": proceedings_ongoing,
            "harm_intelligence": harm_intelligence,
            "emergency": emergency,
        },
    }


def parse_request(request: object) -> ParsedRequest:
    """Check ``request`` against POLICY.md section 2; :class:`InvalidInput` names the field."""
    top = _record(request, "request", _TOP_FIELDS)
    actor = _record(top["actor"], "actor", frozenset({"role", "same_org"}))
    subject = _record(top["subject"], "subject", frozenset({"role"}))
    context = _record(top["context"], "context", _CONTEXT_FIELDS)
    flags = {name: _flag(context[name], f"context.{name}") for name in CONTEXT_FLAGS}
    parsed = ParsedRequest(
        actor_role=_member(ActorRole, actor["role"], "actor.role"),
        same_org=_flag(actor["same_org"], "actor.same_org"),
        holder=_member(HolderKind, top["holder"], "holder"),
        action=_member(Action, top["action"], "action"),
        purpose=_member(Purpose, top["purpose"], "purpose"),
        recipient=_member(Recipient, top["recipient"], "recipient"),
        subject_role=_member(SubjectRole, subject["role"], "subject.role"),
        data=_categories(top["data"]),
        crime_type=_member(CrimeType, context["crime_type"], "context.crime_type"),
        status_evidence=_member(
            StatusEvidence, context["status_evidence"], "context.status_evidence"
        ),
        **flags,
    )
    _check_cross_fields(parsed)
    return parsed


def _record(value: object, where: str, fields: frozenset[str]) -> Mapping[str, Any]:
    if type(value) is dict and value.keys() == fields:  # the common case, checked cheaply
        return value
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where}: must be an object, not {_kind(value)}")
    keys = set(value)
    if not all(isinstance(key, str) for key in keys):
        raise InvalidInput(f"{where}: field names must be text")
    missing = sorted(fields - keys)
    if missing:
        raise InvalidInput(f"{where}: missing field(s): {', '.join(missing)}")
    extra = sorted(keys - fields)
    if extra:
        raise InvalidInput(f"{where}: unknown field(s): {', '.join(extra)}")
    return value


_MEMBERS: dict[type[StrEnum], dict[str, StrEnum]] = {}


def _member(enum: type[_E], value: object, where: str) -> _E:
    # A StrEnum member is a str, so both the enum and its plain value are accepted.
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: must be text, not {_kind(value)}")
    members = _MEMBERS.get(enum)
    if members is None:
        members = _MEMBERS[enum] = {member.value: member for member in enum}
    found = members.get(value)
    if found is not None:
        return found  # type: ignore[return-value]
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidInput(f"{where}: {value!r} is not one of: {allowed}") from None


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{where}: must be true or false, not {_kind(value)} {value!r}")
    return value


def _categories(value: object) -> frozenset[DataCategory]:
    if not isinstance(value, list | tuple):
        raise InvalidInput(f"data: must be a list, not {_kind(value)}")
    if not value:
        raise InvalidInput("data: must name at least one category")
    return frozenset(_member(DataCategory, item, "data") for item in value)


def _check_cross_fields(parsed: ParsedRequest) -> None:
    needs_recipient = parsed.action in _NEEDS_RECIPIENT
    if needs_recipient and parsed.recipient is Recipient.NONE:
        raise InvalidInput(f"recipient: {parsed.action} needs a recipient, not none")
    if not needs_recipient and parsed.recipient is not Recipient.NONE:
        raise InvalidInput(f"recipient: must be none for {parsed.action}")
    if parsed.same_org:
        if parsed.actor_role in _SUPPORT_STAFF and parsed.holder is not HolderKind.SUPPORT_SERVICE:
            raise InvalidInput(
                f"actor.same_org: a {parsed.actor_role} belongs to a support_service, "
                f"not to the holder {parsed.holder}"
            )
        if parsed.actor_role in _POLICE_ROLES and parsed.holder is not HolderKind.POLICE:
            raise InvalidInput(
                f"actor.same_org: a {parsed.actor_role} belongs to the police, "
                f"not to the holder {parsed.holder}"
            )
    if parsed.actor_role is ActorRole.VICTIM and parsed.subject_role is SubjectRole.SUSPECT:
        raise InvalidInput("subject.role: a victim acting for herself is not a suspect")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return type(value).__name__
