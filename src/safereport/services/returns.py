"""Returns for funders and commissioners: counts by month or quarter, never a row per person.

Every number is a count of routing facts the organisation already keeps in clear (when a case
came in, how, its crime type, its status over time (open, dormant), why it was closed, its
outcome scores at the start and the end of support; when a referral was released, to what
kind of organisation): nothing is decrypted, so no guard decision opens anything here. Erased
cases are not counted (she asked for her data to go).

Small cells are suppressed: a count from 1 to 4 is published as "<5". Where a group's total
is published beside its parts (new cases, by crime type and by how they came in), one
suppressed part could be worked out from the total, so the next smallest part is suppressed
too (complementary suppression). Zero is shown as 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Connection

from safereport.domain.case import CaseStatus, IntakeKind
from safereport.domain.vocabulary import CrimeType, Recipient
from safereport.services.auth import StaffUser
from safereport.services.casework import CLOSURE_REASONS, OPEN_STATUSES
from safereport.services.instance import Instance
from safereport.services.practice import OUTCOME_MEASURES
from safereport.stats.labels import label
from safereport.stats.spreadsheet import csv_text
from safereport.store.returns import (
    StatusChange,
    cases_now,
    last_closures,
    new_cases,
    packages_sent,
    status_changes,
)
from safereport.store.returns import scores as scores_of

__all__ = ["SMALL_CELL", "Period", "ReturnTable", "funders_return", "suppress", "to_csv"]

#: Counts below this (and above zero) are published as "<5".
SMALL_CELL = 5
SUPPRESSED = f"<{SMALL_CELL}"


class Period(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"


@dataclass(frozen=True)
class Measure:
    name: str
    #: Measures of one group add up to the group's total measure (shown beside them).
    group: str = ""
    is_total: bool = False


@dataclass(frozen=True)
class ReturnTable:
    year: int
    period: Period
    columns: tuple[str, ...]
    #: One row per measure: its name and, per period, a count or None (suppressed).
    rows: tuple[tuple[str, tuple[int | None, ...]], ...]


def _crime(code: str) -> str:
    return code.replace("_", " ")


def _period_of(moment: datetime, period: Period) -> str:
    if period is Period.MONTH:
        return f"{moment.year}-{moment.month:02d}"
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def _columns(year: int, period: Period) -> tuple[str, ...]:
    if period is Period.MONTH:
        return tuple(f"{year}-{m:02d}" for m in range(1, 13))
    return tuple(f"{year}-Q{q}" for q in range(1, 5))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_OWN_REPORT = (IntakeKind.ANONYMOUS.value, IntakeKind.CODENAME.value, IntakeKind.IDENTIFIED.value)
_REFERRAL_KINDS = (Recipient.MARAC, Recipient.POLICE, Recipient.SUPPORT_SERVICE,
                   Recipient.HEALTH, Recipient.HOUSING, Recipient.LOCAL_AUTHORITY,
                   Recipient.COURT, Recipient.IMMIGRATION_ENFORCEMENT)


def funders_return(instance: Instance, user: StaffUser, *, year: int,
                   period: Period = Period.QUARTER) -> ReturnTable:
    """The organisation's counts for ``year`` by month or quarter, small cells suppressed."""
    if not 2000 <= year <= 2100:
        from safereport.errors import InvalidInput

        raise InvalidInput("choose a year between 2000 and 2100")
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    counts: Counter[tuple[str, str]] = Counter()
    with instance.engine.connect() as conn:
        for row in new_cases(conn, user.org_id, start, end):
            when = _period_of(_aware(row.created_at), period)
            counts["New cases", when] += 1
            counts[f"New cases: {_crime(row.crime_type)}", when] += 1
            route = ("her own report" if row.intake in _OWN_REPORT else "filed by staff for her")
            counts[f"New cases: {route}", when] += 1
        for closed in last_closures(conn, user.org_id, start, end):
            reason = CLOSURE_REASONS.get(closed.reason, closed.reason)
            counts[f"Cases closed: {reason}", _period_of(_aware(closed.closed_at), period)] += 1
        for sent in packages_sent(conn, user.org_id, start, end):
            counts[f"Referrals and disclosures sent: {label('recipient', sent.recipient)}",
                   _period_of(_aware(sent.created_at), period)] += 1
        _count_statuses(conn, user, counts, year, period)
        _count_outcomes(conn, user, counts, start, end, period)
    columns = _columns(year, period)
    measures = _measures()
    raw = {m.name: [counts[m.name, c] for c in columns] for m in measures}
    return ReturnTable(year, period, columns, tuple(
        (m.name, tuple(v)) for m, v in zip(measures, suppress(measures, raw), strict=True)))


def _measures() -> list[Measure]:
    found = [Measure("New cases", "new", is_total=True)]
    found += [Measure(f"New cases: {_crime(c.value)}", "new") for c in CrimeType]
    found += [Measure("New cases: her own report", "route"),
              Measure("New cases: filed by staff for her", "route")]
    found += [Measure(_OPEN_AT_END), Measure(_DORMANT_AT_END)]
    found += [Measure(f"Cases closed: {text}") for text in CLOSURE_REASONS.values()]
    found += [Measure(_SCORED)]
    found += [Measure(f"{_OUTCOME}{m.improved}") for m in OUTCOME_MEASURES]
    found += [Measure(f"Referrals and disclosures sent: {label('recipient', r.value)}")
              for r in _REFERRAL_KINDS]
    return found


_OPEN_AT_END = "Cases open at the end of the period (not dormant)"
_DORMANT_AT_END = "Cases dormant at the end of the period"
_SCORED = "Cases with outcomes scored at the start and at the end of support"
_OUTCOME = "Of those, at the end: "


def _bounds(year: int, period: Period) -> list[tuple[str, datetime, datetime]]:
    """(column, start, end) of each period of the year."""
    step = 1 if period is Period.MONTH else 3
    found = []
    for first in range(1, 13, step):
        start = datetime(year, first, 1, tzinfo=UTC)
        after = first + step
        end = (datetime(year + 1, 1, 1, tzinfo=UTC) if after > 12
               else datetime(year, after, 1, tzinfo=UTC))
        found.append((_period_of(start, period), start, end))
    return found


def _count_statuses(conn: Connection, user: StaffUser, counts: Counter[tuple[str, str]], year: int,
                    period: Period) -> None:
    """Cases open, and dormant, at the end of each period (or now, for the current one).

    A case's status at a moment is read from its history (``case_status_changes``): the last
    change before it, else what the first change after it changed from, else its status now.
    """
    rows = cases_now(conn, user.org_id)
    changes: dict[str, list[StatusChange]] = {}
    for change in status_changes(conn, user.org_id):
        changes.setdefault(change.case_id, []).append(change)
    now = datetime.now(UTC)
    for column, start, end in _bounds(year, period):
        if start > now:
            continue
        moment = min(end, now)
        for row in rows:
            if _aware(row.created_at) >= moment:
                continue
            status = _status_at(changes.get(row.id, []), row.status, moment)
            if status in OPEN_STATUSES:
                counts[_OPEN_AT_END, column] += 1
            elif status is CaseStatus.DORMANT:
                counts[_DORMANT_AT_END, column] += 1


def _status_at(changes: list[StatusChange], current: str, moment: datetime) -> CaseStatus | None:
    before = [c for c in changes if _aware(c.changed_at) < moment]
    if before:
        found = before[-1].to_status
    elif changes:
        found = changes[0].from_status
    else:
        found = current
    try:
        return CaseStatus(found)
    except ValueError:
        return None


def _count_outcomes(conn: Connection, user: StaffUser, counts: Counter[tuple[str, str]],
                    start: datetime, end: datetime, period: Period) -> None:
    """Cases whose outcomes were scored at the end of support in the period (and at its
    start), and of those how many improved on each measure."""
    scores: dict[str, dict[tuple[str, str], tuple[int, datetime]]] = {}
    for row in scores_of(conn, user.org_id):
        scores.setdefault(row.case_id, {})[row.stage, row.measure] = (
            row.score, _aware(row.recorded_at))
    for case_scores in scores.values():
        paired = [(m, case_scores[("entry", m.code)][0], case_scores[("exit", m.code)])
                  for m in OUTCOME_MEASURES
                  if ("entry", m.code) in case_scores and ("exit", m.code) in case_scores]
        if not paired:
            continue
        ended = max(at for _, _, (_, at) in paired)
        if not start <= ended < end:
            continue
        column = _period_of(ended, period)
        counts[_SCORED, column] += 1
        for measure, before, (after, _) in paired:
            if after > before or (measure.code == "abuse" and after == len(measure.scale)):
                counts[f"{_OUTCOME}{measure.improved}", column] += 1


def suppress(measures: Iterable[Measure], raw: dict[str, list[int]]) -> list[list[int | None]]:
    """Primary suppression of 1..4, then complementary suppression within each group whose
    total is published (the total of "new" is also the total of "route")."""
    measures = list(measures)
    out: list[list[int | None]] = [
        [None if 0 < v < SMALL_CELL else v for v in raw[m.name]] for m in measures]
    groups: dict[str, list[int]] = {}
    for position, m in enumerate(measures):
        if m.group and not m.is_total:
            groups.setdefault(m.group, []).append(position)
    width = len(next(iter(raw.values()), []))
    for members in groups.values():
        for col in range(width):
            hidden = [p for p in members if out[p][col] is None]
            if len(hidden) != 1:
                continue
            shown = [p for p in members if out[p][col] not in (None, 0)]
            if shown:
                smallest = min(shown, key=lambda p: (raw[measures[p].name][col], p))
                out[smallest][col] = None
    return out


def to_csv(table: ReturnTable) -> str:
    """One row per measure, one column per period; "<5" where a count is suppressed."""
    # Through the formula neutraliser like every CSV this project writes (issue 14 item 8).
    return csv_text(["measure", *table.columns],
                    ([name, *(SUPPRESSED if v is None else str(v) for v in values)]
                     for name, values in table.rows))
