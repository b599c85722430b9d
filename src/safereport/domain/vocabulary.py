"""The closed vocabulary of docs/spec/POLICY.md section 2, in one place.

Every enum is alphabetised. Values are the exact strings of POLICY.md; nothing else in the
package spells them as bare strings.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "SENSITIVE_CATEGORIES",
    "Action",
    "ActorRole",
    "CrimeType",
    "DataCategory",
    "Effect",
    "HolderKind",
    "Obligation",
    "OrgKind",
    "Purpose",
    "Recipient",
    "Regime",
    "ServiceRule",
    "StatusEvidence",
    "SubjectRole",
]


class ActorRole(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    AUDITOR = "auditor"
    CASEWORKER = "caseworker"
    IMMIGRATION_OFFICER = "immigration_officer"
    MARAC_MEMBER = "marac_member"
    POLICE_OFFICER = "police_officer"
    POLICE_SYSTEM = "police_system"
    SUPERVISOR = "supervisor"
    VICTIM = "victim"


class HolderKind(StrEnum):
    POLICE = "police"
    SUPPORT_SERVICE = "support_service"


class Action(StrEnum):
    DATABASE_CHECK = "database_check"
    DISCLOSE = "disclose"
    ENFORCEMENT_ACTION = "enforcement_action"
    ERASE = "erase"
    PUBLISH_STATISTICS = "publish_statistics"
    UPDATE = "update"
    VIEW = "view"


class Purpose(StrEnum):
    COURT_ORDER = "court_order"
    IMMIGRATION_ENFORCEMENT = "immigration_enforcement"
    IMMIGRATION_STATUS_CHECK = "immigration_status_check"
    INVESTIGATION = "investigation"
    MARAC = "marac"
    PROSECUTION = "prosecution"
    REGULARISATION_SUPPORT = "regularisation_support"
    SAFEGUARDING = "safeguarding"
    STATISTICS = "statistics"
    SUBJECT_ACCESS = "subject_access"
    SUPPORT = "support"


class Recipient(StrEnum):
    COURT = "court"
    HEALTH = "health"
    HOUSING = "housing"
    IMMIGRATION_ENFORCEMENT = "immigration_enforcement"
    LOCAL_AUTHORITY = "local_authority"
    MARAC = "marac"
    NONE = "none"
    POLICE = "police"
    PUBLIC = "public"
    SUPPORT_SERVICE = "support_service"


class SubjectRole(StrEnum):
    SUSPECT = "suspect"
    VICTIM = "victim"
    WITNESS = "witness"


class DataCategory(StrEnum):
    ADDRESS = "address"
    AGGREGATE = "aggregate"
    CASE_NOTES = "case_notes"
    CONTACT = "contact"
    CRIME_DETAILS = "crime_details"
    HEALTH = "health"
    IDENTITY = "identity"
    IMMIGRATION_ABUSE = "immigration_abuse"
    IMMIGRATION_STATUS = "immigration_status"
    NATIONALITY = "nationality"
    RISK_ASSESSMENT = "risk_assessment"


class CrimeType(StrEnum):
    DOMESTIC_ABUSE = "domestic_abuse"
    HATE_CRIME = "hate_crime"
    MODERN_SLAVERY = "modern_slavery"
    OTHER = "other"
    SEXUAL_OFFENCE = "sexual_offence"
    STALKING_HARASSMENT = "stalking_harassment"


class StatusEvidence(StrEnum):
    CONFIRMED = "confirmed"
    DOUBTS_ONLY = "doubts_only"
    NONE = "none"
    SUSPECTED = "suspected"


class Effect(StrEnum):
    ALLOW = "allow"
    CONDITIONAL = "conditional"
    DENY = "deny"


class Obligation(StrEnum):
    NOTIFY_SUBJECT = "notify_subject"
    RECORD_JUSTIFICATION = "record_justification"
    REDACT_IMMIGRATION = "redact_immigration"
    SUPERVISOR_APPROVAL = "supervisor_approval"


class Regime(StrEnum):
    FIREWALL = "firewall"
    FIREWALL_CONSENT = "firewall-consent"
    NPCC_2020 = "npcc-2020"
    NPCC_2020_REC1 = "npcc-2020-rec1"


class ServiceRule(StrEnum):
    """Refusals by the service itself, outside the policy's request space (POLICY.md section 6).

    Each is a deny on the ledger with its own rule id, minted by ``Guard.refuse``: something
    stopped before (or after) the policy could decide, recorded with its real reason.
    ``S-step`` is not a refusal: it records a staff step that opens no case data.
    """

    CONFLICT = "S-conflict"
    DECLINED = "S-declined"
    ERASED = "S-erased"
    EXPIRED = "S-expired"
    MALFORMED = "S-malformed"
    NOT_HELD = "S-not-held"
    NOT_OFFERED = "S-not-offered"
    OBLIGATION_UNMET = "S-obligation-unmet"
    STEP = "S-step"
    UNKNOWN_CASE = "S-unknown-case"
    VAULT_FAILURE = "S-vault-failure"


class OrgKind(StrEnum):
    """Kinds of organisation: the two holders and every other recipient kind."""

    COURT = "court"
    HEALTH = "health"
    HOUSING = "housing"
    IMMIGRATION_ENFORCEMENT = "immigration_enforcement"
    LOCAL_AUTHORITY = "local_authority"
    MARAC = "marac"
    POLICE = "police"
    SUPPORT_SERVICE = "support_service"


#: Categories sealed by F-sealed and removed by the ``redact_immigration`` obligation.
SENSITIVE_CATEGORIES: frozenset[DataCategory] = frozenset(
    {DataCategory.NATIONALITY, DataCategory.IMMIGRATION_STATUS, DataCategory.IMMIGRATION_ABUSE}
)
