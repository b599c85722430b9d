"""UK bank holidays by rule, per jurisdiction, for counting FOI working days.

The rules are those of the Banking and Financial Dealings Act 1971 (schedule 1) and the royal
proclamations made under it each year: fixed dates move to the next free weekday when they fall
at a weekend (a "substitute day"), the movable ones follow their weekday rules, and Easter follows
the Gregorian computus. One-off changes (jubilees, a royal wedding, a funeral, a coronation) are a
table, because no rule predicts them.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache

from safereport.errors import InvalidInput

__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "Jurisdiction",
    "bank_holidays",
    "easter_sunday",
    "is_working_day",
]

#: The early May bank holiday began in 1978; before it the rules here would be wrong.
FIRST_YEAR = 1978
LAST_YEAR = 2100


class Jurisdiction(StrEnum):
    """Whose bank holidays count. ``uk`` is every part's: FOIA s.10(6) read literally."""

    ENGLAND_WALES = "england-wales"
    NORTHERN_IRELAND = "northern-ireland"
    SCOTLAND = "scotland"
    UK = "uk"


_PARTS = (Jurisdiction.ENGLAND_WALES, Jurisdiction.NORTHERN_IRELAND, Jurisdiction.SCOTLAND)
_ALL = frozenset(Jurisdiction)
_EW_NI = frozenset({Jurisdiction.ENGLAND_WALES, Jurisdiction.NORTHERN_IRELAND})

#: One-off changes by proclamation: (day, name, jurisdictions it is a holiday in).
_EXTRA_DAYS: tuple[tuple[date, str, frozenset[Jurisdiction]], ...] = (
    (date(1981, 7, 29), "Wedding of Prince Charles and Lady Diana Spencer", _ALL),
    (date(1999, 12, 31), "Millennium celebrations", _ALL),
    (date(2002, 6, 3), "Golden Jubilee of Elizabeth II", _ALL),
    (date(2011, 4, 29), "Wedding of Prince William and Catherine Middleton", _ALL),
    (date(2012, 6, 5), "Diamond Jubilee of Elizabeth II", _ALL),
    (date(2022, 6, 3), "Platinum Jubilee of Elizabeth II", _ALL),
    (date(2022, 9, 19), "State funeral of Queen Elizabeth II", _ALL),
    (date(2023, 5, 8), "Coronation of King Charles III", _ALL),
)

#: Rule dates moved by proclamation: (year, holiday name) -> the day it was held instead.
_MOVED: dict[tuple[int, str], date] = {
    (1995, "Early May bank holiday"): date(1995, 5, 8),  # VE Day 50
    (2002, "Spring bank holiday"): date(2002, 6, 4),
    (2012, "Spring bank holiday"): date(2012, 6, 4),
    (2020, "Early May bank holiday"): date(2020, 5, 8),  # VE Day 75
    (2022, "Spring bank holiday"): date(2022, 6, 2),
}


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _first_monday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(7 - first.weekday()) % 7)


def _last_monday(year: int, month: int) -> date:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=last.weekday())


def _fixed_dates(year: int, jurisdiction: Jurisdiction) -> list[tuple[date, str]]:
    """Holidays on a fixed date, in date order; these get substitute days."""
    days = [(date(year, 1, 1), "New Year's Day")]
    if jurisdiction is Jurisdiction.SCOTLAND:
        days.append((date(year, 1, 2), "2nd January"))
    if jurisdiction is Jurisdiction.NORTHERN_IRELAND:
        days.append((date(year, 3, 17), "St Patrick's Day"))
        days.append((date(year, 7, 12), "Battle of the Boyne (Orangemen's Day)"))
    if jurisdiction is Jurisdiction.SCOTLAND and year >= 2007:
        days.append((date(year, 11, 30), "St Andrew's Day"))
    days.append((date(year, 12, 25), "Christmas Day"))
    days.append((date(year, 12, 26), "Boxing Day"))
    return days


def _weekday_rules(year: int, jurisdiction: Jurisdiction) -> list[tuple[date, str]]:
    easter = easter_sunday(year)
    days = [
        (easter - timedelta(days=2), "Good Friday"),
        (_first_monday(year, 5), "Early May bank holiday"),
        (_last_monday(year, 5), "Spring bank holiday"),
    ]
    if jurisdiction is Jurisdiction.SCOTLAND:
        days.append((_first_monday(year, 8), "Summer bank holiday"))
    else:
        days.append((easter + timedelta(days=1), "Easter Monday"))
        days.append((_last_monday(year, 8), "Summer bank holiday"))
    return [(_MOVED.get((year, name), day), name) for day, name in days]


def _with_substitutes(fixed: list[tuple[date, str]], taken: set[date]) -> dict[date, str]:
    """Fixed holidays on a free weekday stay; those at a weekend take the next free weekday.

    This reproduces the proclamations: Christmas on a Saturday gives Monday 27 and Tuesday 28;
    Christmas on a Sunday keeps Boxing Day on Monday 26 and makes Tuesday 27 Christmas's
    substitute; in Scotland, 1 January on a Sunday keeps 2 January on Monday 2 and moves New
    Year's Day to Tuesday 3.
    """
    result = {day: name for day, name in fixed if day.weekday() < 5 and day not in taken}
    for day, name in fixed:
        if day in result:
            continue
        moved = day
        while moved.weekday() >= 5 or moved in taken or moved in result:
            moved += timedelta(days=1)
        result[moved] = f"{name} (substitute day)"
    return result


@lru_cache(maxsize=512)
def bank_holidays(year: int, jurisdiction: Jurisdiction) -> dict[date, str]:
    """Every bank holiday of ``year`` in ``jurisdiction``: day -> name."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"bank holidays are known for {FIRST_YEAR}-{LAST_YEAR}, not {year}")
    if jurisdiction is Jurisdiction.UK:
        union: dict[date, str] = {}
        for part in _PARTS:
            for day, name in bank_holidays(year, part).items():
                union.setdefault(day, f"{name} ({part.value})")
        return dict(sorted(union.items()))
    movable = dict(_weekday_rules(year, jurisdiction))
    holidays = {**movable, **_with_substitutes(_fixed_dates(year, jurisdiction), set(movable))}
    for day, name, where in _EXTRA_DAYS:
        if day.year == year and jurisdiction in where:
            holidays[day] = name
    return dict(sorted(holidays.items()))


def is_working_day(day: date, jurisdiction: Jurisdiction) -> bool:
    """Not a Saturday, Sunday, or bank holiday (Christmas Day and Good Friday are among them)."""
    return day.weekday() < 5 and day not in bank_holidays(day.year, jurisdiction)
