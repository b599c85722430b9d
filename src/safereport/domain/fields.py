"""The fields a case can hold, each tagged with its POLICY.md data category.

Every field is stored only as ciphertext by the vault; the category decides which decision can
open it. Field names are a closed set so that a typo cannot create an unguarded field.
"""

from __future__ import annotations

from enum import StrEnum

from safereport.domain.vocabulary import DataCategory

__all__ = ["FIELD_CATEGORY", "MAX_FIELD_CHARS", "CaseField", "category_of"]


class CaseField(StrEnum):
    ADDRESS = "address"
    DATE_OF_BIRTH = "date_of_birth"
    EMAIL = "email"
    HEALTH_NEEDS = "health_needs"
    IMMIGRATION_STATUS = "immigration_status"
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
    CaseField.IMMIGRATION_STATUS: DataCategory.IMMIGRATION_STATUS,
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

#: The longest text any one field accepts (a long narrative fits; a flood does not).
MAX_FIELD_CHARS = 20_000


def category_of(field: CaseField | str) -> DataCategory:
    """The data category of ``field``; ValueError for a name not in the closed set."""
    return FIELD_CATEGORY[CaseField(field)]
