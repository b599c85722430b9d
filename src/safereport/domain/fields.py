"""The fields a case can hold, each tagged with its POLICY.md data category.

Every field is stored only as ciphertext by the vault; the category decides which decision can
open it. Field names are a closed set so that a typo cannot create an unguarded field.
"""

from __future__ import annotations

from enum import StrEnum

from safereport.domain.vocabulary import DataCategory

__all__ = [
    "CATEGORY_LABELS",
    "FIELD_CATEGORY",
    "FIELD_LABELS",
    "FIELD_ORDER",
    "MAX_FIELD_CHARS",
    "CaseField",
    "category_of",
]


class CaseField(StrEnum):
    ADDRESS = "address"
    DATE_OF_BIRTH = "date_of_birth"
    EMAIL = "email"
    HEALTH_NEEDS = "health_needs"
    #: Answers to the immigration-related abuse checklist (POLICY.md v2, issue 17).
    IMMIGRATION_ABUSE = "immigration_abuse"
    IMMIGRATION_STATUS = "immigration_status"
    #: Her interpreter needs: needed, a female interpreter, not from her community, a note.
    INTERPRETER = "interpreter"
    #: The language(s) she speaks and reads, in staff's words ("Arabic; reads little English").
    LANGUAGE = "language"
    LOCATION = "location"
    NAME = "name"
    NARRATIVE = "narrative"
    NATIONALITY = "nationality"
    OCCURRED = "occurred"
    PHONE = "phone"
    RISK_ANSWERS = "risk_answers"
    RISK_LEVEL = "risk_level"
    SAFE_CONTACT = "safe_contact"


FIELD_CATEGORY: dict[CaseField, DataCategory] = {
    CaseField.ADDRESS: DataCategory.ADDRESS,
    CaseField.DATE_OF_BIRTH: DataCategory.IDENTITY,
    CaseField.EMAIL: DataCategory.CONTACT,
    CaseField.HEALTH_NEEDS: DataCategory.HEALTH,
    CaseField.IMMIGRATION_ABUSE: DataCategory.IMMIGRATION_ABUSE,
    CaseField.IMMIGRATION_STATUS: DataCategory.IMMIGRATION_STATUS,
    # How to speak with her: part of how she is contacted, sealed like her phone number.
    CaseField.INTERPRETER: DataCategory.CONTACT,
    CaseField.LANGUAGE: DataCategory.CONTACT,
    CaseField.LOCATION: DataCategory.CRIME_DETAILS,
    CaseField.NAME: DataCategory.IDENTITY,
    CaseField.NARRATIVE: DataCategory.CRIME_DETAILS,
    CaseField.NATIONALITY: DataCategory.NATIONALITY,
    CaseField.OCCURRED: DataCategory.CRIME_DETAILS,
    CaseField.PHONE: DataCategory.CONTACT,
    CaseField.RISK_ANSWERS: DataCategory.RISK_ASSESSMENT,
    CaseField.RISK_LEVEL: DataCategory.RISK_ASSESSMENT,
    CaseField.SAFE_CONTACT: DataCategory.CONTACT,
}

#: Plain labels for people (the enum words are the data's names, not the page's).
FIELD_LABELS: dict[CaseField, str] = {
    CaseField.NARRATIVE: "What happened, in her words",
    CaseField.OCCURRED: "When it happened",
    CaseField.LOCATION: "Where it happened",
    CaseField.NAME: "Name",
    CaseField.DATE_OF_BIRTH: "Date of birth",
    CaseField.SAFE_CONTACT: "How it is safe to contact her",
    CaseField.LANGUAGE: "Her language",
    CaseField.INTERPRETER: "Interpreter",
    CaseField.PHONE: "Phone",
    CaseField.EMAIL: "Email",
    CaseField.ADDRESS: "Address",
    CaseField.HEALTH_NEEDS: "Health needs",
    CaseField.RISK_LEVEL: "Risk level",
    CaseField.RISK_ANSWERS: "Risk checklist answers",
    CaseField.NATIONALITY: "Nationality",
    CaseField.IMMIGRATION_STATUS: "Immigration status",
    CaseField.IMMIGRATION_ABUSE: "Immigration-related abuse checklist",
}

#: The order a person reads a case in: her account first, then who she is and how to reach
#: her safely (safe-contact preferences before any number), then risk, then the sealed facts.
FIELD_ORDER: tuple[CaseField, ...] = tuple(FIELD_LABELS)

#: Plain labels for the POLICY.md data categories.
CATEGORY_LABELS: dict[DataCategory, str] = {
    DataCategory.IDENTITY: "who she is",
    DataCategory.CONTACT: "contact details",
    DataCategory.ADDRESS: "address",
    DataCategory.NATIONALITY: "nationality",
    DataCategory.IMMIGRATION_STATUS: "immigration status",
    DataCategory.CRIME_DETAILS: "what happened",
    DataCategory.HEALTH: "health",
    DataCategory.RISK_ASSESSMENT: "risk assessment",
    DataCategory.CASE_NOTES: "case notes",
    DataCategory.AGGREGATE: "numbers about many people",
    DataCategory.IMMIGRATION_ABUSE: "immigration-related abuse",
}

#: The longest text any one field accepts (a long narrative fits; a flood does not).
MAX_FIELD_CHARS = 20_000


def category_of(field: CaseField | str) -> DataCategory:
    """The data category of ``field``; ValueError for a name not in the closed set."""
    return FIELD_CATEGORY[CaseField(field)]
