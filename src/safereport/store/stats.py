"""Statistics releases (signed, never changed once written) and the privacy-budget ledger.

A release row is inserted once and never updated or deleted: this module offers no function
that would, and the signed note over the body's hash makes any later change evident. The
budget ledger is one row per period (its total) and one charge per release; the service
checks and charges in the same transaction that inserts the release.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.engine import Row

from safereport.store.ledger import ledger_entries
from safereport.store.metadata import metadata
from safereport.store.times import aware

__all__ = [
    "BudgetChargeRow",
    "BudgetRow",
    "ReleaseRow",
    "budget_for",
    "budget_ledger",
    "budgets",
    "first_release_of_month",
    "immutable_ddl",
    "insert_budget",
    "insert_charge",
    "insert_release",
    "latest_releases",
    "ledger_entries_month_case",
    "next_seq",
    "release_by_id",
    "spent_in",
    "spent_in_year",
    "stats_budget_charges",
    "stats_budgets",
    "stats_releases",
]

#: Statistics count each case's entries in a month: this index finds the cases with many
#: entries (to clip them) without touching the table. It lives on the ledger's table.
ledger_entries_month_case = Index(
    "ix_ledger_entries_month_case", ledger_entries.c.month, ledger_entries.c.case_id
)

stats_releases = Table(
    "stats_releases",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("month", String(7), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("epsilon", Float, nullable=False),
    Column("body", Text, nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("note", Text, nullable=False),
    UniqueConstraint("month", "seq", name="uq_stats_releases_month_seq"),
)

stats_budgets = Table(
    "stats_budgets",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("total_epsilon", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

stats_budget_charges = Table(
    "stats_budget_charges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("month", String(7), ForeignKey("stats_budgets.month"), nullable=False, index=True),
    Column("release_id", String(32), ForeignKey("stats_releases.id"), nullable=False,
           unique=True),
    Column("epsilon", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


#: Once written, releases and budget records never change: the database refuses it too.
_IMMUTABLE = ("stats_releases", "stats_budgets", "stats_budget_charges")
_PG_FUNCTION = """CREATE OR REPLACE FUNCTION safereport_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'published statistics are immutable'; END $$"""


def immutable_ddl(dialect: str) -> list[str]:
    """Triggers that refuse UPDATE and DELETE on the statistics tables (SQLite, PostgreSQL)."""
    if dialect == "postgresql":
        return [_PG_FUNCTION] + [
            f"CREATE TRIGGER {name}_immutable BEFORE UPDATE OR DELETE ON {name} "
            "FOR EACH ROW EXECUTE FUNCTION safereport_refuse_change()"
            for name in _IMMUTABLE
        ]
    return [
        f"CREATE TRIGGER {name}_no_{verb.lower()} BEFORE {verb} ON {name} "
        "BEGIN SELECT RAISE(ABORT, 'published statistics are immutable'); END"
        for name in _IMMUTABLE
        for verb in ("UPDATE", "DELETE")
    ]


def _add_triggers(target: Table, connection: Connection, **_: Any) -> None:
    # The triggers are made once, after the last of the three tables exists.
    if target.name == _IMMUTABLE[-1]:
        for statement in immutable_ddl(connection.dialect.name):
            connection.exec_driver_sql(statement)


for _table in (stats_releases, stats_budgets, stats_budget_charges):
    event.listen(_table, "after_create", _add_triggers)


def budget_for(conn: Connection, month: str) -> float | None:
    query = select(stats_budgets.c.total_epsilon).where(stats_budgets.c.month == month)
    value = conn.execute(query).scalar()
    return None if value is None else float(value)


def insert_budget(conn: Connection, month: str, total: float, now: datetime) -> None:
    conn.execute(insert(stats_budgets).values(month=month, total_epsilon=total, created_at=now))


def spent_in(conn: Connection, month: str) -> float:
    query = select(func.coalesce(func.sum(stats_budget_charges.c.epsilon), 0.0)).where(
        stats_budget_charges.c.month == month
    )
    return float(conn.execute(query).scalar_one())


def spent_in_year(conn: Connection, year: str) -> float:
    """Epsilon charged to ``year``: its annual charges and any older per-month charges."""
    month = stats_budget_charges.c.month
    query = select(func.coalesce(func.sum(stats_budget_charges.c.epsilon), 0.0)).where(
        or_(month == year, month.like(f"{year}-%"))
    )
    return float(conn.execute(query).scalar_one())


@dataclass(frozen=True, slots=True)
class BudgetRow:
    """A budget period (a year, or a month of an older release) and its total epsilon."""

    month: str
    total_epsilon: float
    created_at: datetime


def budgets(conn: Connection) -> list[BudgetRow]:
    """Every budget period, newest first, with its total."""
    query = select(stats_budgets).order_by(stats_budgets.c.month.desc())
    return [BudgetRow(r.month, float(r.total_epsilon), aware(r.created_at))
            for r in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class BudgetChargeRow:
    """One charge: the release, the release's period, the budget period charged, epsilon."""

    release_id: str
    period: str
    charged_to: str
    epsilon: float
    created_at: datetime


def budget_ledger(conn: Connection) -> list[BudgetChargeRow]:
    """Every charge, newest first."""
    c, r = stats_budget_charges.c, stats_releases.c
    query = (
        select(c.release_id, r.month, c.month, c.epsilon, c.created_at)
        .join(stats_releases, r.id == c.release_id)
        .order_by(c.created_at.desc(), c.id.desc())
    )
    return [BudgetChargeRow(str(row[0]), str(row[1]), str(row[2]), float(row[3]),
                            aware(row[4])) for row in conn.execute(query)]


def insert_charge(
    conn: Connection, month: str, release_id: str, epsilon: float, now: datetime
) -> None:
    conn.execute(insert(stats_budget_charges).values(
        month=month, release_id=release_id, epsilon=epsilon, created_at=now
    ))


def next_seq(conn: Connection, month: str) -> int:
    query = select(func.coalesce(func.max(stats_releases.c.seq), 0)).where(
        stats_releases.c.month == month
    )
    return int(conn.execute(query).scalar_one()) + 1


def insert_release(conn: Connection, **values: object) -> None:
    conn.execute(insert(stats_releases).values(**values))


@dataclass(frozen=True, slots=True)
class ReleaseRow:
    """A published release as stored: its signed body, the body's hash and the signed note."""

    id: str
    month: str
    seq: int
    created_at: datetime
    epsilon: float
    body: str
    body_sha256: str
    note: str


def _release(row: Row[Any]) -> ReleaseRow:
    return ReleaseRow(row.id, row.month, int(row.seq), aware(row.created_at), float(row.epsilon),
                      row.body, row.body_sha256, row.note)


def release_by_id(conn: Connection, release_id: str) -> ReleaseRow | None:
    query = select(stats_releases).where(stats_releases.c.id == release_id)
    row = conn.execute(query).first()
    return None if row is None else _release(row)


def latest_releases(conn: Connection, limit: int = 12) -> list[ReleaseRow]:
    """The newest releases first (by month, then by sequence within the month)."""
    order = (stats_releases.c.month.desc(), stats_releases.c.seq.desc())
    return [_release(row) for row in
            conn.execute(select(stats_releases).order_by(*order).limit(limit))]


def first_release_of_month(conn: Connection, month: str) -> str | None:
    """The id of a release published for ``month`` (YYYY-MM), if any."""
    found = conn.execute(select(stats_releases.c.id)
                         .where(stats_releases.c.month == month).limit(1)).scalar()
    return None if found is None else str(found)
