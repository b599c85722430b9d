"""Scheduled work and retention: what each job last did and when it runs next, which process
runs them (one per database), and the retention notices shown at her door.

Query functions never commit; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from safereport.store.metadata import metadata

__all__ = [
    "JobRunRow",
    "LeaseRow",
    "advisory_unlock",
    "claim_job",
    "drop_lease",
    "ensure_job_rows",
    "finish_job",
    "job_runs",
    "lease_of",
    "ping",
    "renew_lease",
    "retention_notices",
    "scheduled_job_runs",
    "scheduler_lease",
    "take_lease",
    "try_advisory_lock",
]

#: One row per job (services/scheduler.py): its last run, result and next run.
scheduled_job_runs = Table(
    "scheduled_job_runs",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("next_run_at", DateTime(timezone=True), nullable=True),
    #: set while a runner holds the job (claimed); cleared when it finishes
    Column("running_since", DateTime(timezone=True), nullable=True),
    Column("running_by", String(64), nullable=True),
    Column("last_started_at", DateTime(timezone=True), nullable=True),
    Column("last_finished_at", DateTime(timezone=True), nullable=True),
    Column("last_ok", Boolean, nullable=True),
    Column("last_result", Text, nullable=True),
    Column("runs", Integer, nullable=False, default=0),
)

#: The runner's lease (SQLite; PostgreSQL uses a session advisory lock instead): one row,
#: held by one process until it expires or is renewed.
scheduler_lease = Table(
    "scheduler_lease",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

#: A case a retention rule will shred: when she was told (her door shows ``shred_on``) and
#: under which rule. A case that stops matching its rule (reopened, say) loses its notice.
retention_notices = Table(
    "retention_notices",
    metadata,
    Column("case_id", String(32), primary_key=True),
    Column("rule", String(64), nullable=False),
    Column("noticed_at", DateTime(timezone=True), nullable=False),
    Column("shred_on", DateTime(timezone=True), nullable=False),
    Index("ix_retention_notices_shred_on", "shred_on"),
)


# -- the jobs' rows ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class JobRunRow:
    """A job's row: its next run, who is running it since when, and how its last run went."""

    name: str
    next_run_at: datetime | None
    running_since: datetime | None
    running_by: str | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_ok: bool | None
    last_result: str | None
    runs: int


def ensure_job_rows(conn: Connection, names: Iterable[str]) -> None:
    """Give each named job a row (never run) unless it has one."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for name in names:
        conn.execute(dialect.insert(scheduled_job_runs)
                     .values(name=name, runs=0).on_conflict_do_nothing())


def job_runs(conn: Connection) -> dict[str, JobRunRow]:
    """Every job's row, by the job's name."""
    found = {}
    for row in conn.execute(select(scheduled_job_runs)):
        found[row.name] = JobRunRow(
            name=row.name, next_run_at=row.next_run_at, running_since=row.running_since,
            running_by=row.running_by, last_started_at=row.last_started_at,
            last_finished_at=row.last_finished_at, last_ok=row.last_ok,
            last_result=row.last_result, runs=int(row.runs or 0),
        )
    return found


def claim_job(conn: Connection, name: str, *, now: datetime, runner_id: str,
              stale_before: datetime, force: bool) -> bool:
    """Take the job for ``runner_id`` in one update if nobody runs it (or its claim started
    before ``stale_before``) and, unless ``force``, it is due at ``now``; True if taken."""
    due = or_(scheduled_job_runs.c.next_run_at.is_(None), scheduled_job_runs.c.next_run_at <= now)
    free = or_(scheduled_job_runs.c.running_since.is_(None),
               scheduled_job_runs.c.running_since < stale_before)
    claimed = conn.execute(
        update(scheduled_job_runs)
        .where(and_(scheduled_job_runs.c.name == name, free, *(() if force else (due,))))
        .values(running_since=now, running_by=runner_id, last_started_at=now)
    )
    return claimed.rowcount == 1


def finish_job(conn: Connection, name: str, *, runner_id: str, finished: datetime, ok: bool,
               result: str, next_run_at: datetime) -> None:
    """Record the end of a run ``runner_id`` claimed: its result, its next run, one more run."""
    conn.execute(
        update(scheduled_job_runs)
        .where(and_(scheduled_job_runs.c.name == name,
                    scheduled_job_runs.c.running_by == runner_id))
        .values(running_since=None, running_by=None, last_finished_at=finished,
                last_ok=ok, last_result=result, next_run_at=next_run_at,
                runs=scheduled_job_runs.c.runs + 1)
    )


# -- the runner's lead ------------------------------------------------------------------------

def ping(conn: Connection) -> None:
    """Ask the database for nothing: raises when the connection is gone."""
    conn.execute(text("SELECT 1"))


def try_advisory_lock(conn: Connection, key: int) -> bool:
    """PostgreSQL: take the session advisory lock ``key`` on this connection if free."""
    got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
    return bool(got.scalar())


def advisory_unlock(conn: Connection, key: int) -> None:
    """PostgreSQL: let go of the session advisory lock ``key`` held on this connection."""
    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """Who holds a lease, and until when."""

    holder: str
    expires_at: datetime


def lease_of(conn: Connection, name: str) -> LeaseRow | None:
    """The lease ``name``, if anyone ever took it."""
    row = conn.execute(select(scheduler_lease.c.holder, scheduler_lease.c.expires_at)
                       .where(scheduler_lease.c.name == name)).first()
    return LeaseRow(row.holder, row.expires_at) if row is not None else None


def take_lease(conn: Connection, name: str, holder: str, expires_at: datetime) -> None:
    """Write the lease ``name`` for the first time, held by ``holder``."""
    conn.execute(scheduler_lease.insert().values(name=name, holder=holder,
                                                 expires_at=expires_at))


def renew_lease(conn: Connection, name: str, holder: str, expires_at: datetime) -> None:
    """Give the lease ``name`` to ``holder`` (again) until ``expires_at``."""
    conn.execute(update(scheduler_lease).where(scheduler_lease.c.name == name)
                 .values(holder=holder, expires_at=expires_at))


def drop_lease(conn: Connection, name: str, holder: str) -> None:
    """Delete the lease ``name`` if ``holder`` holds it."""
    conn.execute(scheduler_lease.delete().where(and_(
        scheduler_lease.c.name == name, scheduler_lease.c.holder == holder)))
