"""Scheduled work and retention: what each job last did and when it runs next, which process
runs them (one per database), and the retention notices shown at her door.

Query functions never commit; the caller owns the transaction.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table, Text

from safereport.store.metadata import metadata

__all__ = ["retention_notices", "scheduled_job_runs", "scheduler_lease"]

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
