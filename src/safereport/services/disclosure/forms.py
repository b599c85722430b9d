"""The disclosure request form: the facts a person may state on it, and checking it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from safereport.domain.vocabulary import DataCategory, Purpose, Recipient, StatusEvidence
from safereport.errors import InvalidInput
from safereport.services.access import active_consent
from safereport.services.auth import StaffUser
from safereport.services.instance import Instance
from safereport.store.disclosures import other_organisations

__all__ = [
    "CONTEXT_FLAGS",
    "MAX_JUSTIFICATION_CHARS",
    "DisclosureForm",
    "consent_on_record",
    "parse_disclosure_form",
    "recipient_organisations",
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
MAX_JUSTIFICATION_CHARS = 5000


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
    wanted = _categories(categories)
    stated = _stated_facts(flags)
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


def _categories(categories: Sequence[str]) -> frozenset[DataCategory]:
    try:
        wanted = frozenset(DataCategory(c) for c in categories)
    except ValueError as exc:
        raise InvalidInput("unknown data category") from exc
    if not wanted:
        raise InvalidInput("choose at least one kind of data")
    if DataCategory.AGGREGATE in wanted:
        raise InvalidInput("aggregate data is published as statistics, not disclosed")
    return wanted


def _stated_facts(flags: Iterable[str]) -> frozenset[str]:
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
    return stated


def recipient_organisations(instance: Instance, user: StaffUser) -> list[tuple[str, str, str]]:
    """Every other organisation: (id, name, kind), for the recipient list."""
    with instance.engine.connect() as conn:
        rows = other_organisations(conn, user.org_id)
    return [(r.id, r.name, r.kind) for r in rows]


def consent_on_record(instance: Instance, case_id: str, recipient: Recipient,
                      purpose: Purpose) -> bool:
    """Whether the person's express consent to this recipient and purpose stands (shown on
    the form; the guard reads it from the record itself)."""
    with instance.engine.connect() as conn:
        return active_consent(conn, case_id, recipient, purpose)
