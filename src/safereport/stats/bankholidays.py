"""UK bank holidays per jurisdiction, for counting FOI working days, from ``holidays``.

The ``holidays`` package (python-holidays) keeps the rules of the Banking and Financial Dealings
Act 1971 and the yearly royal proclamations, one-offs included (jubilees, royal weddings, the
state funeral, the coronation), and is updated when a new proclamation is made: upgrading it
(``python3 tasks.py lock --upgrade-package holidays``) is how a new one-off reaches the FOI
clocks. This module only maps our jurisdictions onto its subdivisions and keeps the days that
are bank holidays: the package also lists a fixed holiday on the weekend day it falls on, next to
its weekday substitute, and only the substitute closes an office (named "... (substitute
day)", as gov.uk and the proclamations say, where the package says "(observed)").
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import lru_cache

import holidays
from dateutil.easter import easter

from safereport.errors import InvalidInput

__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "Jurisdiction",
    "bank_holidays",
    "easter_sunday",
    "is_working_day",
]

#: The early May bank holiday began in 1978; FOI clocks need nothing earlier.
FIRST_YEAR = 1978
LAST_YEAR = 2100


class Jurisdiction(StrEnum):
    """Whose bank holidays count. ``uk`` is every part's: FOIA s.10(6) read literally."""

    ENGLAND_WALES = "england-wales"
    NORTHERN_IRELAND = "northern-ireland"
    SCOTLAND = "scotland"
    UK = "uk"


#: Our jurisdictions as the package's subdivisions of GB (Wales keeps England's days).
_SUBDIVISION = {
    Jurisdiction.ENGLAND_WALES: "ENG",
    Jurisdiction.NORTHERN_IRELAND: "NIR",
    Jurisdiction.SCOTLAND: "SCT",
}


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (dateutil's computus, which ``holidays`` itself uses)."""
    sunday: date = easter(year)
    return sunday


@lru_cache(maxsize=512)
def bank_holidays(year: int, jurisdiction: Jurisdiction) -> dict[date, str]:
    """Every bank holiday of ``year`` in ``jurisdiction``: day -> name, in date order."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"bank holidays are known for {FIRST_YEAR}-{LAST_YEAR}, not {year}")
    if jurisdiction is Jurisdiction.UK:
        union: dict[date, str] = {}
        for part in _SUBDIVISION:
            for day, name in bank_holidays(year, part).items():
                union.setdefault(day, f"{name} ({part.value})")
        return dict(sorted(union.items()))
    listed = holidays.country_holidays("GB", subdiv=_SUBDIVISION[jurisdiction], years=year)
    return {
        day: str(name).replace(" (observed)", " (substitute day)")  # the proclamations' words
        for day, name in sorted(listed.items())
        if day.weekday() < 5
    }


def is_working_day(day: date, jurisdiction: Jurisdiction) -> bool:
    """Not a Saturday, Sunday, or bank holiday (Christmas Day and Good Friday are among them)."""
    return day.weekday() < 5 and day not in bank_holidays(day.year, jurisdiction)
