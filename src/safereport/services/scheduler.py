"""Scheduled work inside ``serve``: one runner per database, whatever the number of workers.

Every ``serve`` process (each of ``--workers N``, each server on the same database) starts a
:class:`Runner` thread. Each tick, a runner first tries to become the **leader**: on
PostgreSQL by holding a session advisory lock on a connection of its own (released by the
database if the process dies); on SQLite by a lease row it renews (``scheduler_lease``; taken
over once it has expired). Only the leader runs jobs. Then, for each due job, the leader
**claims** it with one conditional update of the job's row (due, and not running), so even two
runners that both believe they lead (a lease that expired mid-run) never run a job twice.

Each job's last start, finish, result and next run are stored in ``scheduled_job_runs``:
:func:`scheduled_jobs` returns them for the admin page and ``safereport jobs list``;
``safereport jobs run NAME`` runs one now through the same claim.

Time comes from a :class:`~safereport.services.clock.Clock`, so tests drive it by hand.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection

from safereport.config import Settings
from safereport.errors import InvalidInput, SafeReportError
from safereport.services.clock import Clock, SystemClock
from safereport.services.instance import Instance
from safereport.store.jobs import (
    advisory_unlock,
    claim_job,
    drop_lease,
    ensure_job_rows,
    finish_job,
    job_runs,
    lease_of,
    ping,
    renew_lease,
    take_lease,
    try_advisory_lock,
)

__all__ = [
    "JOBS",
    "Cadence",
    "Job",
    "JobState",
    "Runner",
    "run_due",
    "run_job",
    "scheduled_jobs",
    "start_scheduler",
]

log = logging.getLogger("safereport.scheduler")

#: The PostgreSQL advisory lock held by the leading runner ("SAFESCHD" in ASCII).
_RUNNER_LOCK = 0x5341464553434844
#: How long a SQLite lease lasts without renewal, and how long a claimed job may run before
#: another runner may take it (a runner that died mid-job).
LEASE = timedelta(minutes=2)
STALE_CLAIM = timedelta(hours=6)
#: Seconds between a runner's ticks.
TICK_SECONDS = 30.0


@dataclass(frozen=True)
class Cadence:
    """When a job runs: every ``interval``, daily at ``hour`` (UTC), or monthly on the 1st."""

    interval: timedelta | None = None
    hour: int = 0
    monthly: bool = False

    def next_after(self, moment: datetime) -> datetime:
        if self.interval is not None:
            return moment + self.interval
        at = moment.replace(hour=self.hour, minute=0, second=0, microsecond=0)
        if not self.monthly:
            return at if at > moment else at + timedelta(days=1)
        first = at.replace(day=1)
        if first > moment:
            return first
        return first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)

    def describe(self) -> str:
        if self.interval is not None:
            minutes = int(self.interval.total_seconds() // 60)
            return f"every {minutes} minutes" if minutes < 60 else f"every {minutes // 60} hour(s)"
        when = f"{self.hour:02d}:00 UTC"
        return f"monthly, on the 1st at {when}" if self.monthly else f"daily at {when}"


class JobFailed(SafeReportError):
    """A job ran and did not do its work; the message is its result line."""


@dataclass(frozen=True)
class Job:
    name: str
    title: str
    cadence: Cadence
    #: does the work; returns one line saying what it did (raises on failure)
    work: Callable[[Instance, datetime, Clock], str]
    #: None when the job is on; else why it is off (a setting to change)
    off: Callable[[Settings], str | None] = lambda _settings: None


@dataclass(frozen=True)
class JobState:
    """What the admin page and ``jobs list`` show for one job."""

    name: str
    title: str
    cadence: str
    enabled: bool
    off_reason: str | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_ok: bool | None
    last_result: str | None
    next_run_at: datetime | None
    running: bool
    runs: int


# -- the jobs ---------------------------------------------------------------------------------

def _erasures(instance: Instance, now: datetime, _clock: Clock) -> str:
    from safereport.services.erasure import complete_due_erasures

    return f"{complete_due_erasures(instance, now=now)} case(s) erased after their cooling-off"


def _retention(instance: Instance, _now: datetime, clock: Clock) -> str:
    from safereport.services.retention import run_retention

    report = run_retention(instance, clock=clock)
    line = report.summary() + "".join(f"; {warning}" for warning in report.warnings)
    if report.count("refused"):
        raise JobFailed(line)
    return line


def _retention_off(settings: Settings) -> str | None:
    return None if settings.retention else "no retention rules (setting `retention`)"


def _checkpoint(instance: Instance, _now: datetime, _clock: Clock) -> str:
    signed = instance.ledger.sign_checkpoint()
    if signed.new:
        return f"signed a checkpoint over {signed.size} entries"
    return f"the latest checkpoint already covers all {signed.size} entries"


def _witnesses(instance: Instance, _now: datetime, _clock: Clock) -> str:
    from safereport.ledger.witness_client import (
        Outcome,
        WitnessClient,
        client_for,
        parse_witnesses,
    )

    endpoints = parse_witnesses(instance.settings.witnesses)
    log_ = instance.ledger
    client = client_for(log_) or WitnessClient(log_, endpoints)
    results = client.sync(log_.checkpoint(new=True))
    line = "; ".join(f"{r.witness} {r.outcome.value} size {r.size}" for r in results)
    if any(r.outcome not in (Outcome.COSIGNED, Outcome.SKIPPED) for r in results):
        raise JobFailed(line)
    return line or "no witness answered"


def _witnesses_off(settings: Settings) -> str | None:
    from safereport.ledger.witness_client import parse_witnesses

    if parse_witnesses(settings.witnesses):
        return None
    return "no witnesses configured (setting `witnesses`)"


def _statistics(instance: Instance, now: datetime, _clock: Clock) -> str:
    from safereport.stats.release import ReleaseOptions, previous_month, publish_release
    from safereport.store.stats import first_release_of_month

    month = previous_month(now)
    with instance.engine.connect() as conn:
        done = first_release_of_month(conn, month)
    if done is not None:
        return f"{month} was already released ({done})"
    release = publish_release(instance.engine, instance.ledger.signer, month, ReleaseOptions(),
                              now=now)
    return f"published release {release.id} for {month}"


def _statistics_off(settings: Settings) -> str | None:
    return None if settings.monthly_statistics else "not chosen (setting `monthly_statistics`)"


def _backups(instance: Instance, _now: datetime, clock: Clock) -> str:
    from safereport.services.backup import create_backup

    settings = instance.settings
    result = create_backup(instance, Path(settings.backup_dir), keep=settings.backup_keep,
                           now=clock.now)
    removed = f", removed {len(result.removed)} older" if result.removed else ""
    return f"wrote {result.path.name} ({result.size:,} bytes){removed}"


def _backups_off(settings: Settings) -> str | None:
    return None if settings.backup_dir else "no backup folder (setting `backup_dir`)"


def _quarantine(instance: Instance, now: datetime, _clock: Clock) -> str:
    # imported by name: the quarantine (issue 19) may be absent from this version
    shred = importlib.import_module("safereport.services.quarantine").shred_expired_quarantine
    count = int(shred(instance, now))
    return f"{count} quarantined report(s) shredded after quarantine_days"


def _quarantine_off(_settings: Settings) -> str | None:
    try:
        module = importlib.import_module("safereport.services.quarantine")
    except ImportError:
        return "this version has no quarantine (issue 19)"
    if not hasattr(module, "shred_expired_quarantine"):
        return "this version's quarantine cannot shred expired reports"
    return None


#: Every scheduled job, in the order a runner runs the due ones.
JOBS: tuple[Job, ...] = (
    Job("erasures", "Erasures after their cooling-off", Cadence(interval=timedelta(hours=1)),
        _erasures),
    Job("retention", "Retention: notices and shredding", Cadence(hour=2), _retention,
        _retention_off),
    Job("quarantine", "Quarantined reports shredded after quarantine_days", Cadence(hour=2),
        _quarantine, _quarantine_off),
    Job("checkpoint", "Ledger checkpoint signing", Cadence(interval=timedelta(minutes=10)),
        _checkpoint),
    Job("witnesses", "Witness cosignatures", Cadence(interval=timedelta(hours=1)), _witnesses,
        _witnesses_off),
    Job("statistics", "Monthly statistics release", Cadence(hour=4, monthly=True), _statistics,
        _statistics_off),
    Job("backups", "Backups (keep the newest N)", Cadence(hour=3), _backups, _backups_off),
)
_BY_NAME = {job.name: job for job in JOBS}


# -- state in the database --------------------------------------------------------------------

def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def scheduled_jobs(instance: Instance) -> list[JobState]:
    """Every job with its last run, result and next run (never run: due at once).

    A read only (the admin page shows it on a GET): a job with no row yet has never run.
    """
    with instance.engine.connect() as conn:
        rows = job_runs(conn)
    states = []
    for job in JOBS:
        row = rows.get(job.name)
        off = job.off(instance.settings)
        states.append(JobState(
            name=job.name, title=job.title, cadence=job.cadence.describe(),
            enabled=off is None, off_reason=off,
            last_started_at=_aware(row.last_started_at) if row else None,
            last_finished_at=_aware(row.last_finished_at) if row else None,
            last_ok=row.last_ok if row else None, last_result=row.last_result if row else None,
            next_run_at=_aware(row.next_run_at) if row else None,
            running=row is not None and row.running_since is not None,
            runs=row.runs if row else 0,
        ))
    return states


def _claim(instance: Instance, job: Job, now: datetime, runner_id: str, force: bool) -> bool:
    """Take the job for this runner if it is due and nobody is running it: one update."""
    with instance.engine.begin() as conn:
        ensure_job_rows(conn, [each.name for each in JOBS])
        return claim_job(conn, job.name, now=now, runner_id=runner_id,
                         stale_before=now - STALE_CLAIM, force=force)


def _finish(instance: Instance, job: Job, started: datetime, finished: datetime, ok: bool,
            result: str, runner_id: str) -> None:
    with instance.engine.begin() as conn:
        finish_job(conn, job.name, runner_id=runner_id, finished=finished, ok=ok,
                   result=result[:2000], next_run_at=job.cadence.next_after(started))


def run_job(instance: Instance, name: str, *, clock: Clock | None = None,
            runner_id: str | None = None, force: bool = False) -> JobState | None:
    """Run one job if it is due (or now, with ``force``) and nobody else is running it.

    Returns its new state, or None when it was not due, or another runner holds it. A job
    that fails is recorded as failed (its message the result) and runs again at its next time.
    """
    job = _BY_NAME.get(name)
    if job is None:
        raise InvalidInput(f"no job {name!r} (one of {', '.join(_BY_NAME)})")
    off = job.off(instance.settings)
    if off is not None:
        if force:
            raise InvalidInput(f"job {name} is off: {off}")
        return None
    clock = clock or SystemClock()
    runner_id = runner_id or _runner_id()
    started = clock.now()
    if not _claim(instance, job, started, runner_id, force):
        return None
    try:
        result, ok = job.work(instance, started, clock), True
    except Exception as exc:  # a failed job is recorded, never kills the runner
        log.exception("scheduled job %s failed", name)
        result, ok = f"failed: {exc}" if isinstance(exc, SafeReportError) else \
            f"failed: {type(exc).__name__}: {exc}", False
    _finish(instance, job, started, clock.now(), ok, result, runner_id)
    return next(state for state in scheduled_jobs(instance) if state.name == name)


def run_due(instance: Instance, *, clock: Clock | None = None,
            runner_id: str | None = None) -> list[JobState]:
    """Run every job that is on and due, in order; the states of those that ran."""
    ran = []
    for job in JOBS:
        state = run_job(instance, job.name, clock=clock, runner_id=runner_id)
        if state is not None:
            ran.append(state)
    return ran


# -- one runner per database ------------------------------------------------------------------

def _runner_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _Leadership:
    """Whether this runner leads: a PostgreSQL advisory lock, or a SQLite lease row."""

    def __init__(self, instance: Instance, runner_id: str, clock: Clock) -> None:
        self.instance, self.runner_id, self.clock = instance, runner_id, clock
        self._held: Connection | None = None  # PostgreSQL: the connection holding the lock

    def acquire(self) -> bool:
        if self.instance.engine.dialect.name == "postgresql":
            return self._advisory()
        return self._lease()

    def _advisory(self) -> bool:
        if self._held is not None:
            try:
                ping(self._held)
                return True
            except Exception:  # the connection (and with it the lock) is gone
                self.release()
        conn = self.instance.engine.connect()
        if try_advisory_lock(conn, _RUNNER_LOCK):
            conn.commit()
            self._held = conn
            return True
        conn.rollback()
        conn.close()
        return False

    def _lease(self) -> bool:
        now = self.clock.now()
        with self.instance.engine.begin() as conn:  # BEGIN IMMEDIATE: one at a time
            row = lease_of(conn, "runner")
            if row is None:
                take_lease(conn, "runner", self.runner_id, now + LEASE)
                return True
            expires = _aware(row.expires_at)
            if row.holder != self.runner_id and expires is not None and expires > now:
                return False
            renew_lease(conn, "runner", self.runner_id, now + LEASE)
            return True

    def release(self) -> None:
        if self._held is not None:
            try:
                advisory_unlock(self._held, _RUNNER_LOCK)
                self._held.commit()
            except Exception:  # already gone: the database released it
                log.debug("advisory lock connection already closed")
            finally:
                self._held.close()
                self._held = None
        elif self.instance.engine.dialect.name != "postgresql":
            with self.instance.engine.begin() as conn:
                drop_lease(conn, "runner", self.runner_id)


class Runner:
    """A background thread that runs due jobs while this process leads."""

    def __init__(self, instance: Instance, *, clock: Clock | None = None,
                 tick: float = TICK_SECONDS, runner_id: str | None = None) -> None:
        self.instance = instance
        self.clock = clock or SystemClock()
        self.tick = tick
        self.runner_id = runner_id or _runner_id()
        self.leadership = _Leadership(instance, self.runner_id, self.clock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> list[JobState]:
        """One tick: lead if possible, then run what is due. Returns the jobs that ran."""
        if not self.leadership.acquire():
            return []
        return run_due(self.instance, clock=self.clock, runner_id=self.runner_id)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # the database away for a moment: try again next tick
                log.exception("scheduler tick failed")
            self._stop.wait(self.tick)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="safereport-scheduler",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self.leadership.release()
        except Exception:  # stopping at exit with the database gone: nothing to hand over
            log.debug("could not release the scheduler lead", exc_info=True)


def start_scheduler(instance: Instance) -> Runner | None:
    """Start this process's runner, unless the setting ``scheduler`` is off."""
    if not instance.settings.scheduler:
        return None
    runner = Runner(instance)
    runner.start()
    return runner
