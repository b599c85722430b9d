from __future__ import annotations

from datetime import date

import pytest

from safereport.errors import InvalidInput
from safereport.stats.bankholidays import Jurisdiction, bank_holidays, easter_sunday
from safereport.stats.foi import due_date, working_days_between

EW, SC, NI = Jurisdiction.ENGLAND_WALES, Jurisdiction.SCOTLAND, Jurisdiction.NORTHERN_IRELAND


@pytest.mark.parametrize(
    ("year", "sunday"),
    [(2008, date(2008, 3, 23)), (2019, date(2019, 4, 21)), (2024, date(2024, 3, 31)),
     (2025, date(2025, 4, 20)), (2026, date(2026, 4, 5)), (2038, date(2038, 4, 25))],
)
def test_easter_by_the_computus(year: int, sunday: date) -> None:
    assert easter_sunday(year) == sunday


def _days(year: int, where: Jurisdiction) -> list[str]:
    return [d.isoformat() for d in bank_holidays(year, where)]


def test_2025_as_published_for_each_jurisdiction() -> None:
    # gov.uk/bank-holidays for 2025, by hand.
    assert _days(2025, EW) == ["2025-01-01", "2025-04-18", "2025-04-21", "2025-05-05",
                               "2025-05-26", "2025-08-25", "2025-12-25", "2025-12-26"]
    # St Andrew's Day falls on a Sunday: Monday 1 December. No Easter Monday; August's first.
    assert _days(2025, SC) == ["2025-01-01", "2025-01-02", "2025-04-18", "2025-05-05",
                               "2025-05-26", "2025-08-04", "2025-12-01", "2025-12-25",
                               "2025-12-26"]
    # 12 July is a Saturday: Monday 14 July.
    assert _days(2025, NI) == ["2025-01-01", "2025-03-17", "2025-04-18", "2025-04-21",
                               "2025-05-05", "2025-05-26", "2025-07-14", "2025-08-25",
                               "2025-12-25", "2025-12-26"]


def test_substitute_days_follow_the_proclamations() -> None:
    h2022 = bank_holidays(2022, EW)
    # Christmas on a Sunday: Boxing Day stays on Monday 26, Christmas moves to Tuesday 27.
    assert h2022[date(2022, 12, 26)] == "Boxing Day"
    assert h2022[date(2022, 12, 27)] == "Christmas Day (substitute day)"
    # Scotland 2022: 1 and 2 January at the weekend: Monday 3 and Tuesday 4.
    assert {date(2022, 1, 3), date(2022, 1, 4)} <= set(bank_holidays(2022, SC))
    # Christmas 2021 on a Saturday: Monday 27 and Tuesday 28.
    assert {date(2021, 12, 27), date(2021, 12, 28)} <= set(bank_holidays(2021, EW))


def test_one_off_changes_are_applied() -> None:
    h2022 = bank_holidays(2022, EW)
    assert date(2022, 5, 30) not in h2022  # the spring holiday moved for the Jubilee
    assert {date(2022, 6, 2), date(2022, 6, 3), date(2022, 9, 19)} <= set(h2022)
    assert date(2023, 5, 8) in bank_holidays(2023, SC)  # the coronation, everywhere
    assert date(2020, 5, 8) in bank_holidays(2020, NI)
    assert date(2020, 5, 4) not in bank_holidays(2020, NI)


def test_years_outside_the_rules_are_refused() -> None:
    with pytest.raises(InvalidInput):
        bank_holidays(1970, EW)


@pytest.mark.parametrize(
    ("received", "where", "expected"),
    [
        # Across Christmas 2026: 25 Dec (Fri), 28 Dec (Boxing Day substitute), 1 Jan 2027.
        (date(2026, 12, 18), EW, date(2027, 1, 20)),
        (date(2026, 12, 18), NI, date(2027, 1, 20)),
        # Scotland also loses Monday 4 January 2027 (2 January falls on a Saturday).
        (date(2026, 12, 18), SC, date(2027, 1, 21)),
        # Easter 2026: Good Friday and Easter Monday; NI also loses St Patrick's Day;
        # Scotland keeps Easter Monday as a working day.
        (date(2026, 3, 16), EW, date(2026, 4, 15)),
        (date(2026, 3, 16), NI, date(2026, 4, 16)),
        (date(2026, 3, 16), SC, date(2026, 4, 14)),
        # Received on a Saturday: day 1 is Monday (or Tuesday, St Andrew's Day in Scotland).
        (date(2026, 11, 28), EW, date(2026, 12, 29)),
        (date(2026, 11, 28), SC, date(2026, 12, 30)),
        # The Platinum Jubilee (2 and 3 June 2022) and the coronation (8 May 2023).
        (date(2022, 5, 27), EW, date(2022, 6, 28)),
        (date(2023, 5, 2), EW, date(2023, 6, 1)),
        # Every part's bank holidays (FOIA s.10(6) read literally): Scotland's 4 January too.
        (date(2026, 12, 18), Jurisdiction.UK, date(2027, 1, 21)),
        # ... and Northern Ireland's St Patrick's Day on top of Easter.
        (date(2026, 3, 16), Jurisdiction.UK, date(2026, 4, 16)),
        # No holidays at all: four plain weeks.
        (date(2026, 10, 1), EW, date(2026, 10, 29)),
    ],
)
def test_foi_due_dates(received: date, where: Jurisdiction, expected: date) -> None:
    assert due_date(received, where) == expected
    assert working_days_between(received, expected, where) == 20


def test_the_days_are_the_holidays_packages_weekdays() -> None:
    """Every weekday the package lists for a part of the UK, and nothing else, for every year:
    a new proclamation reaches the FOI clocks by upgrading the package."""
    import holidays

    for where, subdiv in [(EW, "ENG"), (SC, "SCT"), (NI, "NIR")]:
        for year in range(1978, 2061):
            listed = holidays.country_holidays("GB", subdiv=subdiv, years=year)
            assert set(bank_holidays(year, where)) == {d for d in listed if d.weekday() < 5}


def test_the_royal_one_offs_are_known() -> None:
    one_offs = [date(1981, 7, 29), date(1999, 12, 31), date(2002, 6, 3), date(2011, 4, 29),
                date(2012, 6, 5), date(2022, 6, 3), date(2022, 9, 19), date(2023, 5, 8)]
    for where in (EW, SC, NI, Jurisdiction.UK):
        assert all(day in bank_holidays(day.year, where) for day in one_offs), where
    # VE Day moved the early May holiday in 1995 and 2020.
    assert date(1995, 5, 8) in bank_holidays(1995, EW)
    assert date(1995, 5, 1) not in bank_holidays(1995, EW)


def test_weekend_dates_are_not_bank_holidays() -> None:
    # 30 November 2025 is a Sunday: Scotland's holiday is Monday 1 December only.
    assert date(2025, 11, 30) not in bank_holidays(2025, SC)
    assert bank_holidays(2025, SC)[date(2025, 12, 1)] == "Saint Andrew's Day (substitute day)"
