"""Differentially private statistics of the firewall's decisions, signed and immutable.

What is counted: the ledger entries of one period (a month, a quarter or a year; every
decision, allowed or denied), as six tables over public category lists: who asked
(``actor_role``), to whom the data would go (``recipient``), for what (``purpose``), what was
decided (``effect``), by which rule (``rules``), and the decisions on requests that would put a
victim's data in Immigration Enforcement's hands (recipient ``immigration_enforcement`` or an
immigration officer asking). Counting is SQL GROUP BY on the entries' plain columns; no leaf is
decoded.

Privacy unit: one case (all the entries of one case; an entry with no case is a unit alone).
Contribution bound: of each case's entries in the period, only the first ``entries_per_case``
(by log index) are counted, and of each entry only its first ``rules_per_entry`` rule ids. So
adding or removing one case changes each single-valued table by at most ``entries_per_case``
in L1 norm, and the rules table by at most ``entries_per_case * rules_per_entry``. The
release's epsilon is split evenly over the tables (basic composition); each table gets
discrete Laplace noise from OpenDP with scale = sensitivity / (epsilon / tables), and what
OpenDP reports as each table's loss is charged to the year's privacy budget (an annual cap).

What is published of each count: the unprocessed noisy value, its 95% interval (OpenDP's
accuracy for that noise), and the count itself only when the interval is no wider than the
count; otherwise the count is "too uncertain to show".
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Select, func, select, text
from sqlalchemy.exc import IntegrityError

from safereport.domain.vocabulary import ActorRole, Effect, Purpose, Recipient
from safereport.errors import InvalidInput, LedgerError, SafeReportError
from safereport.ledger.audit import verify_columns_of_months
from safereport.ledger.log import latest_checkpoint
from safereport.ledger.notes import b64encode, parse_note, parse_vkey
from safereport.ledger.record import PADDING
from safereport.ledger.tree import tree_size
from safereport.stats.labels import N_
from safereport.stats.noise import NoisyCounts, error_bound, interval, release_counts
from safereport.store import stats as store
from safereport.store.db import is_postgres
from safereport.store.ledger import ledger_entries

__all__ = [
    "DEFAULT_BUDGET",
    "DIMENSIONS",
    "FORMAT",
    "NEVER_BROKEN_OUT",
    "OTHER",
    "RULE_IDS",
    "UNCERTAIN",
    "BudgetCharge",
    "BudgetExceeded",
    "BudgetYear",
    "Cell",
    "Dimension",
    "DimensionKey",
    "Noise",
    "Period",
    "PeriodKind",
    "PublishedRelease",
    "ReleaseOptions",
    "ReleaseSigner",
    "ReleaseTable",
    "budget_ledger",
    "budget_status",
    "count_month",
    "count_period",
    "latest_releases",
    "load_release",
    "marginals",
    "parse_month",
    "parse_period",
    "previous_month",
    "publish_release",
    "verify_release",
]

FORMAT = "safereport-statistics/2"
FORMAT_1 = "safereport-statistics/1"  # older releases: no unprocessed values, no intervals
OTHER = "other"
DEFAULT_BUDGET = 2.0  # a year's total epsilon
CONFIDENCE = 0.95
UNCERTAIN = "too uncertain to show"

#: What no table breaks the counts down by: the things that could single out a victim.
NEVER_BROKEN_OUT: tuple[str, ...] = (
    N_("nationality"),
    N_("immigration status"),
    N_("the kind of crime"),
    N_("the organisation or police force holding a case"),
    N_("place, age, sex or any other detail of a person"),
    N_("anything written in a report, a note or a message"),
)

#: Every rule id of docs/spec/POLICY.md (sections 3 and 6): a public list, so that a rule's
#: absence reveals nothing.
RULE_IDS: tuple[str, ...] = (
    "C-abuse-evidence", "C-casework", "C-checks", "C-consent", "C-court", "C-default",
    "C-no-automation",
    "C-no-direct-ie", "C-no-status-checks", "C-policework", "C-safeguarding", "C-self",
    "C-statistics", "C-suspect", "C-victim-directed", "C-victims-code", "F-firewall",
    "F-no-enforcement", "F-purpose", "F-redacted-checks", "F-sealed", "N-contact-ie",
    "N-holder", "N-no-police-enforcement", "R1-doubts",
    # The service refusals of POLICY.md section 6 (ServiceRule).
    "S-conflict", "S-declined", "S-erased", "S-expired", "S-malformed", "S-not-held",
    "S-not-offered", "S-obligation-unmet", "S-step", "S-unknown-case", "S-vault-failure",
)


class DimensionKey(StrEnum):
    EFFECT = "effect"
    IMMIGRATION = "immigration"
    PURPOSE = "purpose"
    RECIPIENT = "recipient"
    REQUESTER = "requester"
    RULE = "rule"


@dataclass(frozen=True)
class Dimension:
    key: DimensionKey
    title: str
    categories: tuple[str, ...]  # public; values outside it are counted as OTHER

    def category_of(self, value: str | None) -> str:
        return value if value in self.categories else OTHER


def _vocab(values: Iterable[str]) -> tuple[str, ...]:
    return (*sorted(values), OTHER)


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(DimensionKey.REQUESTER, "Who asked (role)", _vocab(ActorRole)),
    Dimension(DimensionKey.RECIPIENT, "Where the data would go (recipient)", _vocab(Recipient)),
    Dimension(DimensionKey.PURPOSE, "What for (purpose)", _vocab(Purpose)),
    Dimension(DimensionKey.EFFECT, "What was decided (effect)", _vocab(Effect)),
    Dimension(DimensionKey.RULE, "Which rule decided (rule id)", _vocab(RULE_IDS)),
    Dimension(DimensionKey.IMMIGRATION,
              "Requests that would pass a victim's data to Immigration Enforcement, by decision",
              _vocab(Effect)),
)
_BY_KEY = {d.key: d for d in DIMENSIONS}


class ReleaseSigner(Protocol):
    """The ledger's :class:`~safereport.ledger.keys.NoteSigner` fits this."""

    name: str

    @property
    def vkey(self) -> str: ...

    def sign_note(self, text: str) -> str: ...


class BudgetExceeded(InvalidInput):
    """A release would spend more of a month's privacy budget than is left."""


@dataclass(frozen=True)
class ReleaseOptions:
    epsilon: float = 0.5
    budget: float = DEFAULT_BUDGET
    entries_per_case: int = 5
    rules_per_entry: int = 2
    threshold: int = 10  # no count below this is shown, however narrow its interval
    notes: tuple[str, ...] = ()  # release notes, published with the release

    def check(self) -> None:
        if not 0 < self.epsilon <= self.budget:
            raise InvalidInput(f"epsilon must be above 0 and at most the budget ({self.budget})")
        if self.entries_per_case < 1 or self.rules_per_entry < 1 or self.threshold < 1:
            raise InvalidInput("the contribution bounds and the threshold must be at least 1")
        if any(len(note) > 2000 for note in self.notes):
            raise InvalidInput("a release note is at most 2,000 characters")

    def sensitivity(self, key: DimensionKey) -> int:
        extra = self.rules_per_entry if key is DimensionKey.RULE else 1
        return self.entries_per_case * extra


@dataclass(frozen=True)
class Cell:
    category: str
    count: int | None  # the count shown; None when too uncertain to show
    shown: str  # exactly as the page shows it: the count, or "too uncertain to show"
    noisy: int | None = None  # the unprocessed noisy value (None: an older release kept none)
    low: int = 0  # the 95% interval for the true (clipped) count
    high: int = 0

    @property
    def uncertain(self) -> bool:
        return self.count is None


@dataclass(frozen=True)
class ReleaseTable:
    key: DimensionKey
    title: str
    sensitivity: int
    epsilon: float
    scale: float
    error_95: int
    cells: tuple[Cell, ...]

    @property
    def all_uncertain(self) -> bool:
        return all(cell.uncertain for cell in self.cells)

    def cell(self, category: str) -> Cell:
        return next(c for c in self.cells if c.category == category)


@dataclass(frozen=True)
class PublishedRelease:
    id: str
    month: str
    created_at: str
    epsilon: float
    body: str  # canonical JSON, exactly as hashed and signed
    body_sha256: str
    note: str
    data: Mapping[str, Any] = field(repr=False)

    @property
    def tables(self) -> list[ReleaseTable]:
        threshold = int(self.data["method"].get("suppressed_below", 10))
        return [_table(t, threshold) for t in self.data["tables"]]

    def table(self, key: DimensionKey) -> ReleaseTable | None:
        return next((t for t in self.tables if t.key is key), None)

    @property
    def period(self) -> Period:
        return parse_period(self.month)

    @property
    def all_uncertain(self) -> bool:
        """True when no count of the release rises above its noise (e.g. an empty month)."""
        return all(t.all_uncertain for t in self.tables)


class PeriodKind(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


@dataclass(frozen=True)
class Period:
    """What a release covers: one month (``2026-11``), a quarter (``2026-Q4``) or a year
    (``2026``); its budget is its year's."""

    key: str
    kind: PeriodKind
    months: tuple[str, ...]

    @property
    def year(self) -> str:
        return self.key[:4]


def parse_period(value: str) -> Period:
    """``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``; anything else is refused with the forms named."""
    text_ = value.strip().upper()
    year, _, rest = text_.partition("-")
    if len(year) == 4 and year.isdigit() and 1970 <= int(year) <= 9999:
        if not rest:
            return Period(year, PeriodKind.YEAR, tuple(f"{year}-{m:02d}" for m in range(1, 13)))
        if len(rest) == 2 and rest[0] == "Q" and rest[1] in "1234":
            first = 3 * (int(rest[1]) - 1) + 1
            months = tuple(f"{year}-{m:02d}" for m in range(first, first + 3))
            return Period(f"{year}-Q{rest[1]}", PeriodKind.QUARTER, months)
        if len(rest) == 2 and rest.isdigit() and 1 <= int(rest) <= 12:
            return Period(f"{year}-{rest}", PeriodKind.MONTH, (f"{year}-{rest}",))
    raise InvalidInput(
        f"{value!r} is not a period: give a month (2026-11), a quarter (2026-Q4) or a year (2026)"
    )


def parse_month(value: str) -> str:
    try:
        parsed = datetime.strptime(value, "%Y-%m")
    except ValueError as exc:
        raise InvalidInput(f"{value!r} is not a month (YYYY-MM)") from exc
    return parsed.strftime("%Y-%m")


def previous_month(now: datetime) -> str:
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"


# -- counting ------------------------------------------------------------------------------

_CUBE = ("actor_role", "recipient", "purpose", "effect", "rules")


def _cube_query(months: Sequence[str], entries_per_case: int | None) -> Select[Any]:
    """GROUP BY the counted columns: all the period's entries (``None``), or only the entries
    beyond the first ``entries_per_case`` of each case that has more (the excess to remove)."""
    e = ledger_entries.c
    # Padding entries (issue 16) record no decision: they are never counted.
    in_period = e.month.in_(list(months)) & (e.effect != PADDING)
    if entries_per_case is None:
        source = select(*[e[name] for name in _CUBE]).where(in_period).subquery("month")
        columns = [source.c[name] for name in _CUBE]
        return select(*columns, func.count().label("n")).group_by(*columns)
    heavy = (
        select(e.case_id)
        .where(in_period, e.case_id.is_not(None))
        .group_by(e.case_id)
        .having(func.count() > entries_per_case)
    )
    rank = func.row_number().over(partition_by=e.case_id, order_by=e.idx).label("rank")
    ranked = (
        select(*[e[name] for name in _CUBE], rank)
        .where(in_period, e.case_id.in_(heavy))
        .subquery("ranked")
    )
    columns = [ranked.c[name] for name in _CUBE]
    return (
        select(*columns, func.count().label("n"))
        .where(ranked.c.rank > entries_per_case)
        .group_by(*columns)
    )


def _run_read_only(engine: Engine, queries: Sequence[Select[Any]]) -> list[list[tuple[Any, ...]]]:
    """Run ``queries`` in one read transaction, without the engine's write lock on SQLite.

    The engine begins every SQLite transaction IMMEDIATE (so writers queue); a count over
    millions of entries must not stop the ledger, so on SQLite the queries go straight to the
    driver inside a deferred (read) transaction. The values bound into the SQL are checked
    (``YYYY-MM`` months and an int), and SQLAlchemy renders them as literals.
    """
    if is_postgres(engine):
        with engine.connect() as conn:
            return [[tuple(row) for row in conn.execute(query)] for query in queries]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN DEFERRED")
        try:
            results = []
            for query in queries:
                sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
                cursor.execute(sql)
                results.append([tuple(row) for row in cursor.fetchall()])
        finally:
            cursor.execute("COMMIT")
        return results
    finally:
        raw.close()


def count_period(engine: Engine, months: Sequence[str],
                 entries_per_case: int) -> list[tuple[Any, ...]]:
    """The period's clipped entries grouped by every counted column: (role, ..., rules, n).

    Each case counts only its first ``entries_per_case`` entries of the period (by log index).
    Rather than rank every entry (a second sort of the whole period), this counts all entries
    with one plain GROUP BY and subtracts the excess of the few cases that have more than the
    bound, found through the (month, case_id) index. The result is small: one row per
    combination.
    """
    for month in months:
        parse_month(month)  # rendered into the SQL as literals on SQLite: checked first
    everything, excess = _run_read_only(
        engine, [_cube_query(months, None), _cube_query(months, entries_per_case)]
    )
    counts = Counter({row[:-1]: int(row[-1]) for row in everything})
    counts.subtract({row[:-1]: int(row[-1]) for row in excess})
    return [(*key, n) for key, n in counts.items() if n > 0]


def count_month(engine: Engine, month: str, entries_per_case: int) -> list[tuple[Any, ...]]:
    """:func:`count_period` over one month."""
    return count_period(engine, (month,), entries_per_case)


def _rule_ids(rules: str, limit: int) -> list[str]:
    seen: list[str] = []
    for rule in rules.split():
        category = _BY_KEY[DimensionKey.RULE].category_of(rule)
        if category not in seen:
            seen.append(category)
    return seen[:limit]


def _towards_enforcement(role: str | None, recipient: str | None) -> bool:
    """A request that would put a victim's data in Immigration Enforcement's hands."""
    return (recipient == Recipient.IMMIGRATION_ENFORCEMENT
            or role == ActorRole.IMMIGRATION_OFFICER)


def marginals(cube: Iterable[Sequence[Any]], rules_per_entry: int) -> dict[DimensionKey, list[int]]:
    """Exact counts per public category for each table, from the grouped rows."""
    tallies = {d.key: Counter[str]() for d in DIMENSIONS}
    single = (DimensionKey.REQUESTER, DimensionKey.RECIPIENT, DimensionKey.PURPOSE,
              DimensionKey.EFFECT)
    for role, recipient, purpose, effect, rules, n in cube:
        for key, value in zip(single, (role, recipient, purpose, effect), strict=True):
            tallies[key][_BY_KEY[key].category_of(value)] += int(n)
        if _towards_enforcement(role, recipient):
            tallies[DimensionKey.IMMIGRATION][_BY_KEY[DimensionKey.EFFECT].category_of(effect)] \
                += int(n)
        for rule in _rule_ids(str(rules or ""), rules_per_entry):
            tallies[DimensionKey.RULE][rule] += int(n)
    return {d.key: [tallies[d.key][c] for c in d.categories] for d in DIMENSIONS}


# -- noise and the release body ------------------------------------------------------------


def _cell(category: str, noisy: int, error: int, threshold: int) -> dict[str, Any]:
    """One published cell: the unprocessed noisy value, its interval, and the count only when
    the interval is no wider than the count (and the count reaches the threshold)."""
    low, high = interval(noisy, error)
    readable = noisy >= threshold and high - low <= noisy
    return {"category": category, "noisy": noisy, "low": low, "high": high,
            "count": noisy if readable else None, "shown": str(noisy) if readable else UNCERTAIN}


#: Draws a table's noise: ``(exact counts, sensitivity, epsilon) -> NoisyCounts``. Releases use
#: OpenDP (:func:`release_counts`); tests may pass a fixed draw to see what a page makes of it.
Noise = Callable[[Sequence[int], int, float], NoisyCounts]


def _noisy_table(dimension: Dimension, exact: list[int], options: ReleaseOptions,
                 share: float, noise: Noise) -> dict[str, Any]:
    sensitivity = options.sensitivity(dimension.key)
    noisy = noise(exact, sensitivity, share)
    error = error_bound(noisy.scale, CONFIDENCE)
    cells = [_cell(category, value, error, options.threshold)
             for category, value in zip(dimension.categories, noisy.counts, strict=True)]
    return {
        "dimension": dimension.key.value, "title": dimension.title,
        "sensitivity": sensitivity, "epsilon": noisy.epsilon, "delta": 0.0,
        "scale": noisy.scale, "error_95": error, "cells": cells,
    }


def _method(options: ReleaseOptions) -> dict[str, Any]:
    return {
        "mechanism": "discrete Laplace noise (OpenDP make_laplace over integer vectors)",
        "privacy_unit": "one case: every ledger entry of one case (an entry with no case alone)",
        "privacy_unit_words": (
            "one case: everything the log records about one person's case in the period. "
            "Whether or not any one case is in the data changes the chance of any published "
            "number by at most a factor of e^epsilon."),
        "delta": 0.0,
        "entries_per_case": options.entries_per_case,
        "rules_per_entry": options.rules_per_entry,
        "composition": "basic composition: the release's epsilon is split evenly over its tables",
        "suppressed_below": options.threshold,
        "uncertain_rule": (
            f"a count is shown only when its 95% interval is no wider than the count itself "
            f"and the count is at least {options.threshold}; otherwise it is shown as "
            f"'{UNCERTAIN}', with its interval"),
        "error_bounds": "each true (clipped) count lies within ±error_95 of the noisy count "
                        "with probability 95% (OpenDP's accuracy for the noise); intervals "
                        "are cut at 0",
        "rounding": "none: the noise is whole numbers, and noisy counts are published as drawn",
        "clipping": "entries of a case beyond entries_per_case in the period are not counted",
        "published": "for every category of every table: the unprocessed noisy count, its 95% "
                     "interval, and the count when it is not too uncertain to show",
        "never_broken_out": list(NEVER_BROKEN_OUT),
    }


def _canonical(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _note_text(origin: str, release_id: str, month: str, epsilon: float, digest: str) -> str:
    return (f"{origin}/statistics\nrelease {release_id}\nmonth {month}\n"
            f"epsilon {epsilon!r}\nsha256 {digest}\n")


# -- the use case --------------------------------------------------------------------------

Progress = Callable[[str, int, int], None]


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


def publish_release(
    engine: Engine,
    signer: ReleaseSigner,
    period: str,
    options: ReleaseOptions = ReleaseOptions(),
    *,
    now: datetime | None = None,
    progress: Progress = _no_progress,
    noise: Noise = release_counts,
) -> PublishedRelease:
    """Count, add noise, sign and store one period's release, charging its year's budget.

    ``period`` is a month (``2026-11``), a quarter (``2026-Q4``) or a year (``2026``).
    Refuses (:class:`BudgetExceeded`) before any noise is drawn if the year's budget cannot
    pay; a refused release stores nothing.
    """
    now = now or datetime.now(UTC)
    wanted = parse_period(period)
    options.check()
    if wanted.months[-1] >= now.strftime("%Y-%m"):
        raise InvalidInput(f"{wanted.key} is not over yet; release it once it has ended")
    steps = len(DIMENSIONS) + 2
    progress("counting the period's ledger entries", 0, steps)
    with engine.connect() as conn:  # a refusal must come before counting, let alone noise
        _check_budget(conn, wanted, options)
        # The counts come from the ledger's copy columns: first check each against its
        # signed leaf, so an edited column fails the release instead of being published.
        verify_columns_of_months(conn, wanted.months)
    cube = count_period(engine, wanted.months, options.entries_per_case)
    exact = marginals(cube, options.rules_per_entry)
    try:
        with engine.begin() as conn:
            return _publish_in(conn, engine, signer, wanted, options, exact, now, progress,
                               noise)
    except IntegrityError as exc:
        raise SafeReportError("another release was published at the same moment; retry") from exc


def _lock_budget(conn: Connection, engine: Engine) -> None:
    # SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL needs a lock.
    if is_postgres(engine):
        conn.execute(text("SELECT pg_advisory_xact_lock(5385170)"))


def _check_budget(conn: Connection, period: Period, options: ReleaseOptions) -> float:
    """The year's total (the cap); BudgetExceeded if this release would go over it."""
    total = store.budget_for(conn, period.year)
    total = options.budget if total is None else total
    spent = store.spent_in_year(conn, period.year)
    if spent + options.epsilon > total + 1e-12:
        raise BudgetExceeded(
            f"refused: a release of {period.key} at epsilon {options.epsilon:g} would exceed "
            f"the privacy budget of {period.year} ({round(spent, 6):g} of {total:g} spent, "
            f"{round(max(total - spent, 0), 6):g} left); nothing was released"
        )
    return total


def _charge(conn: Connection, period: Period, options: ReleaseOptions, now: datetime) -> float:
    total = _check_budget(conn, period, options)  # again, under the lock
    if store.budget_for(conn, period.year) is None:
        store.insert_budget(conn, period.year, total, now)
    return total


def _publish_in(conn: Connection, engine: Engine, signer: ReleaseSigner, period: Period,
                options: ReleaseOptions, exact: dict[DimensionKey, list[int]], now: datetime,
                progress: Progress, noise: Noise) -> PublishedRelease:
    _lock_budget(conn, engine)
    total = _charge(conn, period, options, now)
    spent_before = store.spent_in_year(conn, period.year)
    seq = store.next_seq(conn, period.key)
    release_id = f"{period.key}.{seq}"
    share = options.epsilon / len(DIMENSIONS)
    tables = []
    for number, dimension in enumerate(DIMENSIONS, start=1):
        tables.append(_noisy_table(dimension, exact[dimension.key], options, share, noise))
        progress(f"adding noise: {dimension.title}", number, len(DIMENSIONS) + 2)
    spent = sum(float(t["epsilon"]) for t in tables)
    checkpoint = latest_checkpoint(conn)
    data: dict[str, Any] = {
        "format": FORMAT, "id": release_id, "origin": signer.name, "month": period.key,
        "period": {"key": period.key, "kind": period.kind.value, "months": list(period.months)},
        "created_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "epsilon": spent, "delta": 0.0,
        "budget": {"period": period.year, "total": total, "spent_before": spent_before,
                   "spent_after": spent_before + spent},
        "confidence": CONFIDENCE, "method": _method(options), "tables": tables,
        "notes": list(options.notes),
        "log_size": tree_size(conn),
        "ledger_checkpoint": None if checkpoint is None else {
            "size": checkpoint.size, "root_hash": b64encode(checkpoint.root)},
    }
    created_at = str(data["created_at"])
    body = _canonical(data)
    digest = hashlib.sha256(body.encode()).hexdigest()
    note = signer.sign_note(_note_text(signer.name, release_id, period.key, spent, digest))
    progress("signing", len(DIMENSIONS) + 2, len(DIMENSIONS) + 2)
    store.insert_release(conn, id=release_id, month=period.key, seq=seq, created_at=now,
                         epsilon=spent, body=body, body_sha256=digest, note=note)
    store.insert_charge(conn, period.year, release_id, spent, now)
    return PublishedRelease(release_id, period.key, created_at, spent, body, digest, note, data)


# -- reading and verifying -----------------------------------------------------------------


def _read_cell(raw: Mapping[str, Any], error: int, threshold: int) -> Cell:
    if "noisy" in raw:  # this format: exactly as signed
        return Cell(str(raw["category"]), raw["count"], str(raw["shown"]), int(raw["noisy"]),
                    int(raw["low"]), int(raw["high"]))
    # An older release kept only counts at or above the threshold. Read through today's rule:
    # a suppressed count was below the threshold, so the true count is below threshold + error.
    count = raw["count"]
    if count is None:
        return Cell(str(raw["category"]), None, UNCERTAIN, None, 0, threshold - 1 + error)
    fresh = _cell(str(raw["category"]), int(count), error, threshold)
    return Cell(fresh["category"], fresh["count"], fresh["shown"], int(count),
                fresh["low"], fresh["high"])


def _table(raw: Mapping[str, Any], threshold: int) -> ReleaseTable:
    error = int(raw["error_95"])
    return ReleaseTable(
        key=DimensionKey(raw["dimension"]), title=str(raw["title"]),
        sensitivity=int(raw["sensitivity"]), epsilon=float(raw["epsilon"]),
        scale=float(raw["scale"]), error_95=error,
        cells=tuple(_read_cell(c, error, threshold) for c in raw["cells"]),
    )


def _published(row: store.ReleaseRow) -> PublishedRelease:
    data = json.loads(row.body)
    return PublishedRelease(
        id=row.id, month=row.month, created_at=data["created_at"], epsilon=row.epsilon,
        body=row.body, body_sha256=row.body_sha256, note=row.note, data=data,
    )


def load_release(engine: Engine, release_id: str) -> PublishedRelease | None:
    with engine.connect() as conn:
        row = store.release_by_id(conn, release_id)
    return None if row is None else _published(row)


def latest_releases(engine: Engine, limit: int = 12) -> list[PublishedRelease]:
    with engine.connect() as conn:
        return [_published(row) for row in store.latest_releases(conn, limit)]


def budget_status(engine: Engine, year: str) -> tuple[float | None, float]:
    """(the year's total budget, or None if nothing was released yet; epsilon spent)."""
    with engine.connect() as conn:
        return store.budget_for(conn, year), store.spent_in_year(conn, year)


@dataclass(frozen=True)
class BudgetCharge:
    release_id: str
    period: str
    epsilon: float
    created_at: datetime


@dataclass(frozen=True)
class BudgetYear:
    """One year of the public privacy budget ledger."""

    year: str
    total: float | None  # None: an older per-month budget only, no annual cap set
    spent: float
    charges: tuple[BudgetCharge, ...]

    @property
    def left(self) -> float | None:
        return None if self.total is None else max(self.total - self.spent, 0.0)


def budget_ledger(engine: Engine) -> list[BudgetYear]:
    """Every year with a release: its cap, what was spent and each charge (newest first)."""
    with engine.connect() as conn:
        totals = {row.month: row.total_epsilon for row in store.budgets(conn)}
        charges = store.budget_ledger(conn)
    years: dict[str, list[BudgetCharge]] = {}
    for row in charges:
        years.setdefault(row.charged_to[:4], []).append(
            BudgetCharge(row.release_id, row.period, row.epsilon, row.created_at))
    return [
        BudgetYear(year, totals.get(year), sum(c.epsilon for c in items), tuple(items))
        for year, items in sorted(years.items(), reverse=True)
    ]


def verify_release(body: str, note: str, vkey: str) -> Mapping[str, Any]:
    """Check that ``note`` is the log key's signature over ``body``; returns the parsed body.

    Anyone can run this with the published body, the note and the log's verifier key.
    """
    parsed = parse_note(note)
    parsed.verify(parse_vkey(vkey))
    data = json.loads(body)
    digest = hashlib.sha256(body.encode()).hexdigest()
    expected = _note_text(str(data["origin"]), str(data["id"]), str(data["month"]),
                          float(data["epsilon"]), digest)
    if parsed.text != expected:
        raise LedgerError("the signed note does not match this release's body")
    return data  # type: ignore[no-any-return]
