"""Differentially private monthly statistics of the firewall's decisions, signed and immutable.

What is counted: the month's ledger entries (every decision, allowed or denied), as five
tables over public category lists: who asked (``actor_role``), to whom the data would go
(``recipient``), for what (``purpose``), what was decided (``effect``) and by which rule
(``rules``). Counting is SQL GROUP BY on the entries' plain columns; no leaf is decoded.

Privacy unit: one case (all the entries of one case; an entry with no case is a unit alone).
Contribution bound: of each case's entries in the month, only the first ``entries_per_case``
(by log index) are counted, and of each entry only its first ``rules_per_entry`` rule ids. So
adding or removing one case changes each of the four single-valued tables by at most
``entries_per_case`` in L1 norm, and the rules table by at most
``entries_per_case * rules_per_entry``. The release's epsilon is split evenly over the five
tables (basic composition); each table gets discrete Laplace noise from OpenDP with
scale = sensitivity / (epsilon / 5), and what OpenDP reports as each table's loss is charged
to the month's privacy budget.
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
from safereport.ledger.log import latest_checkpoint
from safereport.ledger.notes import b64encode, parse_note, parse_vkey
from safereport.stats.noise import error_bound, release_counts
from safereport.store import stats as store
from safereport.store.db import is_postgres
from safereport.store.ledger import ledger_entries

__all__ = [
    "DEFAULT_BUDGET",
    "DIMENSIONS",
    "FORMAT",
    "OTHER",
    "RULE_IDS",
    "BudgetExceeded",
    "Cell",
    "Dimension",
    "DimensionKey",
    "PublishedRelease",
    "ReleaseOptions",
    "ReleaseSigner",
    "ReleaseTable",
    "budget_status",
    "count_month",
    "latest_releases",
    "load_release",
    "marginals",
    "parse_month",
    "previous_month",
    "publish_release",
    "verify_release",
]

FORMAT = "safereport-statistics/1"
OTHER = "other"
DEFAULT_BUDGET = 1.0
CONFIDENCE = 0.95

#: Every rule id of shared/POLICY.md: a public list, so that a rule's absence reveals nothing.
RULE_IDS: tuple[str, ...] = (
    "C-casework", "C-checks", "C-consent", "C-court", "C-default", "C-no-automation",
    "C-no-direct-ie", "C-no-status-checks", "C-policework", "C-safeguarding", "C-self",
    "C-statistics", "C-suspect", "C-victim-directed", "C-victims-code", "F-firewall",
    "F-no-enforcement", "F-purpose", "F-redacted-checks", "F-sealed", "N-contact-ie",
    "N-holder", "N-no-police-enforcement", "R1-doubts",
)


class DimensionKey(StrEnum):
    EFFECT = "effect"
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
    threshold: int = 10  # noisy counts below this are shown as "fewer than 10"

    def check(self) -> None:
        if not 0 < self.epsilon <= self.budget:
            raise InvalidInput(f"epsilon must be above 0 and at most the budget ({self.budget})")
        if self.entries_per_case < 1 or self.rules_per_entry < 1 or self.threshold < 1:
            raise InvalidInput("the contribution bounds and the threshold must be at least 1")

    def sensitivity(self, key: DimensionKey) -> int:
        extra = self.rules_per_entry if key is DimensionKey.RULE else 1
        return self.entries_per_case * extra


@dataclass(frozen=True)
class Cell:
    category: str
    count: int | None  # None when suppressed
    shown: str


@dataclass(frozen=True)
class ReleaseTable:
    key: DimensionKey
    title: str
    sensitivity: int
    epsilon: float
    scale: float
    error_95: int
    cells: tuple[Cell, ...]


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
        return [_table(t) for t in self.data["tables"]]


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


def _cube_query(month: str, entries_per_case: int | None) -> Select[Any]:
    """GROUP BY the counted columns: all the month's entries (``None``), or only the entries
    beyond the first ``entries_per_case`` of each case that has more (the excess to remove)."""
    e = ledger_entries.c
    if entries_per_case is None:
        source = select(*[e[name] for name in _CUBE]).where(e.month == month).subquery("month")
        columns = [source.c[name] for name in _CUBE]
        return select(*columns, func.count().label("n")).group_by(*columns)
    heavy = (
        select(e.case_id)
        .where(e.month == month, e.case_id.is_not(None))
        .group_by(e.case_id)
        .having(func.count() > entries_per_case)
    )
    rank = func.row_number().over(partition_by=e.case_id, order_by=e.idx).label("rank")
    ranked = (
        select(*[e[name] for name in _CUBE], rank)
        .where(e.month == month, e.case_id.in_(heavy))
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
    driver inside a deferred (read) transaction. Both values bound into the SQL are checked
    (a ``YYYY-MM`` month and an int), and SQLAlchemy renders them as literals.
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


def count_month(engine: Engine, month: str, entries_per_case: int) -> list[tuple[Any, ...]]:
    """The month's clipped entries grouped by every counted column: (role, ..., rules, n).

    Each case counts only its first ``entries_per_case`` entries (by log index). Rather than
    rank every entry (a second sort of the whole month), this counts all entries with one
    plain GROUP BY and subtracts the excess of the few cases that have more than the bound,
    found through the (month, case_id) index. The result is small: one row per combination.
    """
    everything, excess = _run_read_only(
        engine, [_cube_query(month, None), _cube_query(month, entries_per_case)]
    )
    counts = Counter({row[:-1]: int(row[-1]) for row in everything})
    counts.subtract({row[:-1]: int(row[-1]) for row in excess})
    return [(*key, n) for key, n in counts.items() if n > 0]


def _rule_ids(rules: str, limit: int) -> list[str]:
    seen: list[str] = []
    for rule in rules.split():
        category = _BY_KEY[DimensionKey.RULE].category_of(rule)
        if category not in seen:
            seen.append(category)
    return seen[:limit]


def marginals(cube: Iterable[Sequence[Any]], rules_per_entry: int) -> dict[DimensionKey, list[int]]:
    """Exact counts per public category for each table, from the grouped rows."""
    tallies = {d.key: Counter[str]() for d in DIMENSIONS}
    single = (DimensionKey.REQUESTER, DimensionKey.RECIPIENT, DimensionKey.PURPOSE,
              DimensionKey.EFFECT)
    for role, recipient, purpose, effect, rules, n in cube:
        for key, value in zip(single, (role, recipient, purpose, effect), strict=True):
            tallies[key][_BY_KEY[key].category_of(value)] += int(n)
        for rule in _rule_ids(str(rules or ""), rules_per_entry):
            tallies[DimensionKey.RULE][rule] += int(n)
    return {d.key: [tallies[d.key][c] for c in d.categories] for d in DIMENSIONS}


# -- noise and the release body ------------------------------------------------------------


def _noisy_table(dimension: Dimension, exact: list[int], options: ReleaseOptions,
                 share: float) -> dict[str, Any]:
    sensitivity = options.sensitivity(dimension.key)
    noisy = release_counts(exact, sensitivity, share)
    cells = []
    for category, value in zip(dimension.categories, noisy.counts, strict=True):
        small = value < options.threshold
        cells.append({
            "category": category,
            "count": None if small else value,
            "shown": f"fewer than {options.threshold}" if small else str(value),
        })
    return {
        "dimension": dimension.key.value, "title": dimension.title,
        "sensitivity": sensitivity, "epsilon": noisy.epsilon, "scale": noisy.scale,
        "error_95": error_bound(noisy.scale, CONFIDENCE), "cells": cells,
    }


def _method(options: ReleaseOptions) -> dict[str, Any]:
    return {
        "mechanism": "discrete Laplace noise (OpenDP make_laplace over integer vectors)",
        "privacy_unit": "one case: every ledger entry of one case (an entry with no case alone)",
        "entries_per_case": options.entries_per_case,
        "rules_per_entry": options.rules_per_entry,
        "composition": "basic composition: the release's epsilon is split evenly over its tables",
        "suppressed_below": options.threshold,
        "error_bounds": "each noisy count is within ±error_95 of the clipped true count with "
                        "probability 95%",
        "clipping": "entries of a case beyond entries_per_case in the month are not counted",
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
    month: str,
    options: ReleaseOptions = ReleaseOptions(),
    *,
    now: datetime | None = None,
    progress: Progress = _no_progress,
) -> PublishedRelease:
    """Count, add noise, sign and store one month's release, charging the month's budget.

    Refuses (:class:`BudgetExceeded`) before any noise is drawn if the budget cannot pay.
    """
    now = now or datetime.now(UTC)
    month = parse_month(month)
    options.check()
    if month >= now.strftime("%Y-%m"):
        raise InvalidInput(f"{month} is not over yet; release it once the month has ended")
    steps = len(DIMENSIONS) + 2
    progress("counting the month's ledger entries", 0, steps)
    cube = count_month(engine, month, options.entries_per_case)
    exact = marginals(cube, options.rules_per_entry)
    try:
        with engine.begin() as conn:
            return _publish_in(conn, engine, signer, month, options, exact, now, progress)
    except IntegrityError as exc:
        raise SafeReportError("another release was published at the same moment; retry") from exc


def _lock_budget(conn: Connection, engine: Engine) -> None:
    # SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL needs a lock.
    if is_postgres(engine):
        conn.execute(text("SELECT pg_advisory_xact_lock(5385170)"))


def _charge(conn: Connection, month: str, options: ReleaseOptions, now: datetime) -> float:
    total = store.budget_for(conn, month)
    if total is None:
        store.insert_budget(conn, month, options.budget, now)
        total = options.budget
    spent = store.spent_in(conn, month)
    if spent + options.epsilon > total + 1e-12:
        raise BudgetExceeded(
            f"{month}: a release at epsilon {options.epsilon} would exceed the budget "
            f"({spent:g} of {total:g} spent, {max(total - spent, 0):g} left)"
        )
    return total


def _publish_in(conn: Connection, engine: Engine, signer: ReleaseSigner, month: str,
                options: ReleaseOptions, exact: dict[DimensionKey, list[int]], now: datetime,
                progress: Progress) -> PublishedRelease:
    _lock_budget(conn, engine)
    total = _charge(conn, month, options, now)
    seq = store.next_seq(conn, month)
    release_id = f"{month}.{seq}"
    share = options.epsilon / len(DIMENSIONS)
    tables = []
    for number, dimension in enumerate(DIMENSIONS, start=1):
        tables.append(_noisy_table(dimension, exact[dimension.key], options, share))
        progress(f"adding noise: {dimension.title}", number, len(DIMENSIONS) + 2)
    spent = sum(float(t["epsilon"]) for t in tables)
    checkpoint = latest_checkpoint(conn)
    data: dict[str, Any] = {
        "format": FORMAT, "id": release_id, "origin": signer.name, "month": month,
        "created_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "epsilon": spent, "budget": {"period": month, "total": total},
        "confidence": CONFIDENCE, "method": _method(options), "tables": tables,
        "ledger_checkpoint": None if checkpoint is None else {
            "size": checkpoint.size, "root_hash": b64encode(checkpoint.root)},
    }
    created_at = str(data["created_at"])
    body = _canonical(data)
    digest = hashlib.sha256(body.encode()).hexdigest()
    note = signer.sign_note(_note_text(signer.name, release_id, month, spent, digest))
    progress("signing", len(DIMENSIONS) + 2, len(DIMENSIONS) + 2)
    store.insert_release(conn, id=release_id, month=month, seq=seq, created_at=now,
                         epsilon=spent, body=body, body_sha256=digest, note=note)
    store.insert_charge(conn, month, release_id, spent, now)
    return PublishedRelease(release_id, month, created_at, spent, body, digest, note, data)


# -- reading and verifying -----------------------------------------------------------------


def _table(raw: Mapping[str, Any]) -> ReleaseTable:
    return ReleaseTable(
        key=DimensionKey(raw["dimension"]), title=str(raw["title"]),
        sensitivity=int(raw["sensitivity"]), epsilon=float(raw["epsilon"]),
        scale=float(raw["scale"]), error_95=int(raw["error_95"]),
        cells=tuple(Cell(str(c["category"]), c["count"], str(c["shown"])) for c in raw["cells"]),
    )


def _published(row: Mapping[Any, Any]) -> PublishedRelease:
    data = json.loads(row["body"])
    return PublishedRelease(
        id=row["id"], month=row["month"], created_at=data["created_at"],
        epsilon=float(row["epsilon"]), body=row["body"], body_sha256=row["body_sha256"],
        note=row["note"], data=data,
    )


def load_release(engine: Engine, release_id: str) -> PublishedRelease | None:
    with engine.connect() as conn:
        row = store.release_by_id(conn, release_id)
    return None if row is None else _published(row)


def latest_releases(engine: Engine, limit: int = 12) -> list[PublishedRelease]:
    with engine.connect() as conn:
        return [_published(row) for row in store.latest_releases(conn, limit)]


def budget_status(engine: Engine, month: str) -> tuple[float | None, float]:
    """(the month's total budget, or None if nothing was released yet; epsilon spent)."""
    with engine.connect() as conn:
        return store.budget_for(conn, month), store.spent_in(conn, month)


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
