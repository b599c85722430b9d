"""Cases, their status workflow, intake kinds, consents: pure values and rules."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from safereport.domain.vocabulary import Purpose, Recipient

__all__ = [
    "TRANSITIONS",
    "CaseStatus",
    "Consent",
    "IntakeKind",
    "can_transition",
    "new_id",
    "new_reference",
]


class IntakeKind(StrEnum):
    ANONYMOUS = "anonymous"
    CODENAME = "codename"
    IDENTIFIED = "identified"
    THIRD_PARTY = "third_party"


class CaseStatus(StrEnum):
    CLOSED = "closed"
    #: Open, but nothing is happening: the service has lost touch with her for now. Set by a
    #: caseworker (funders count it apart from open cases); reopened to "in progress".
    DORMANT = "dormant"
    ERASED = "erased"
    ERASURE_PENDING = "erasure_pending"
    IN_PROGRESS = "in_progress"
    NEW = "new"
    REFERRED = "referred"


#: Allowed status changes. Erasure is a one-way door once the cooling-off period has passed.
TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.NEW: frozenset(
        {CaseStatus.IN_PROGRESS, CaseStatus.DORMANT, CaseStatus.CLOSED,
         CaseStatus.ERASURE_PENDING}
    ),
    CaseStatus.IN_PROGRESS: frozenset(
        {CaseStatus.REFERRED, CaseStatus.DORMANT, CaseStatus.CLOSED, CaseStatus.ERASURE_PENDING}
    ),
    CaseStatus.REFERRED: frozenset(
        {CaseStatus.IN_PROGRESS, CaseStatus.DORMANT, CaseStatus.CLOSED,
         CaseStatus.ERASURE_PENDING}
    ),
    # reopened when she or the service picks it up again
    CaseStatus.DORMANT: frozenset(
        {CaseStatus.IN_PROGRESS, CaseStatus.CLOSED, CaseStatus.ERASURE_PENDING}
    ),
    CaseStatus.CLOSED: frozenset({CaseStatus.IN_PROGRESS, CaseStatus.ERASURE_PENDING}),
    # cancelling an erasure request returns the case to work
    CaseStatus.ERASURE_PENDING: frozenset({CaseStatus.IN_PROGRESS, CaseStatus.ERASED}),
    CaseStatus.ERASED: frozenset(),
}


def can_transition(current: CaseStatus, new: CaseStatus) -> bool:
    return new in TRANSITIONS[current]


@dataclass(frozen=True)
class Consent:
    """Express, specific consent to one recipient kind for one purpose (POLICY.md)."""

    recipient: Recipient
    purpose: Purpose
    given_at: datetime
    withdrawn_at: datetime | None = None

    def active_at(self, when: datetime) -> bool:
        return self.given_at <= when and (self.withdrawn_at is None or when < self.withdrawn_at)


# Case references avoid letters that are easy to confuse when read aloud or on a phone.
_REF_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_id() -> str:
    """An opaque random identifier (128 bits, hex)."""
    return secrets.token_hex(16)


def new_reference() -> str:
    """A case reference a person can read out: ``SR-XXXX-XXXX-XXXX`` (about 59 bits).

    Eight characters (40 bits) collide by the birthday bound after about a million cases;
    twelve keep the chance of any collision among 10^7 cases below 1 in 10,000, and intake
    still checks that a new reference is unused.
    """
    chars = "".join(secrets.choice(_REF_ALPHABET) for _ in range(12))
    return f"SR-{chars[:4]}-{chars[4:8]}-{chars[8:]}"
