"""Freedom of Information requests: due dates and the classification of answers.

FOIA 2000 s.10(1): a public authority must answer "promptly and in any event not later than the
twentieth working day following the date of receipt"; s.10(6) excludes Saturdays, Sundays,
Christmas Day, Good Friday and bank holidays. So the first working day after receipt is day 1,
and the due date is day 20. The Freedom of Information (Scotland) Act 2002 (s.10, s.73) gives
Police Scotland the same twenty working days with Scotland's bank holidays.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from safereport.stats.bankholidays import Jurisdiction, is_working_day
from safereport.stats.labels import N_

__all__ = ["WORKING_DAYS_TO_ANSWER", "Classification", "due_date", "working_days_between"]

WORKING_DAYS_TO_ANSWER = 20


class Classification(StrEnum):
    """What a force's answer says about sharing victims' data with the Home Office."""

    DOES_NOT_SHARE = "does_not_share"
    NO_ANSWER = "no_answer"
    REFUSED = "refused"
    SHARES = "shares"
    UNCLEAR = "unclear"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {  # marked for the public pages' catalogs (translated where shown)
    Classification.SHARES: N_("shares"),
    Classification.DOES_NOT_SHARE: N_("does not share"),
    Classification.UNCLEAR: N_("unclear"),
    Classification.REFUSED: N_("refused"),
    Classification.NO_ANSWER: N_("no answer"),
}


def due_date(
    received: date,
    jurisdiction: Jurisdiction = Jurisdiction.ENGLAND_WALES,
    working_days: int = WORKING_DAYS_TO_ANSWER,
) -> date:
    """The last day to answer a request received on ``received`` (day 1 is the next working day)."""
    day, counted = received, 0
    while counted < working_days:
        day += timedelta(days=1)
        if is_working_day(day, jurisdiction):
            counted += 1
    return day


def working_days_between(start: date, end: date, jurisdiction: Jurisdiction) -> int:
    """Working days after ``start`` up to and including ``end`` (0 if ``end`` is not later)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_working_day(day, jurisdiction)
    return count
