"""Scheduled work with a fake clock: one runner leads per database, a due job runs once
however many runners claim it, results and next runs are stored, failures are recorded and do
not stop the runner; the CLI shows and runs jobs (issue 20)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.support import victim_world as victim_fixtures
from tests.support.victim_world import World, make_world

from safereport.cli import main
from safereport.services.clock import FakeClock
from safereport.services.scheduler import (
    LEASE,
    Cadence,
    Runner,
    _Leadership,
    run_due,
    run_job,
    scheduled_jobs,
)

NOON = datetime(2027, 5, 31, 12, 0, tzinfo=UTC)
#: the victim tests' fixture: an instance with a support service and a police force, on both
#: databases
world = victim_fixtures.world


def _state(world: World, name: str) -> object:
    return next(s for s in scheduled_jobs(world.instance) if s.name == name)


def test_cadences_name_their_next_time() -> None:
    assert Cadence(interval=timedelta(minutes=10)).next_after(NOON) == NOON + timedelta(minutes=10)
    assert Cadence(hour=2).next_after(NOON) == datetime(2027, 6, 1, 2, tzinfo=UTC)
    assert Cadence(hour=14).next_after(NOON) == datetime(2027, 5, 31, 14, tzinfo=UTC)
    monthly = Cadence(hour=4, monthly=True)
    assert monthly.next_after(NOON) == datetime(2027, 6, 1, 4, tzinfo=UTC)
    assert monthly.next_after(datetime(2027, 12, 1, 5, tzinfo=UTC)) == datetime(
        2028, 1, 1, 4, tzinfo=UTC)
    assert monthly.next_after(datetime(2027, 12, 1, 3, tzinfo=UTC)) == datetime(
        2027, 12, 1, 4, tzinfo=UTC)
    assert monthly.describe() == "monthly, on the 1st at 04:00 UTC"


def test_one_runner_leads_at_a_time(world: World) -> None:
    clock = FakeClock(NOON)
    first = _Leadership(world.instance, "one", clock)
    second = _Leadership(world.instance, "two", clock)
    try:
        assert first.acquire() and not second.acquire()
        assert first.acquire()  # renewed
        first.release()
        assert second.acquire() and not first.acquire()
        if world.instance.engine.dialect.name != "postgresql":
            clock.advance(LEASE + timedelta(seconds=1))  # a lease nobody renewed lapses
            assert first.acquire() and not second.acquire()
    finally:
        first.release()
        second.release()


def test_a_due_job_runs_once_however_many_claim_it(world: World) -> None:
    clock = FakeClock(NOON)
    ran: list[object] = []
    barrier = threading.Barrier(6)

    def claim(n: int) -> None:
        barrier.wait()
        ran.append(run_job(world.instance, "erasures", clock=clock, runner_id=f"r{n}"))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([r for r in ran if r is not None]) == 1
    state = _state(world, "erasures")
    assert state.runs == 1 and state.last_ok is True  # type: ignore[attr-defined]
    assert state.next_run_at == NOON + timedelta(hours=1)  # type: ignore[attr-defined]
    assert state.last_result == "0 case(s) erased after their cooling-off"  # type: ignore[attr-defined]
    assert run_job(world.instance, "erasures", clock=clock) is None  # not due again yet
    clock.advance(timedelta(hours=1))
    assert run_job(world.instance, "erasures", clock=clock) is not None


def test_jobs_that_are_off_say_why_and_never_run(world: World) -> None:
    states = {s.name: s for s in scheduled_jobs(world.instance)}
    assert states["retention"].off_reason == "no retention rules (setting `retention`)"
    assert states["backups"].off_reason == "no backup folder (setting `backup_dir`)"
    assert states["statistics"].off_reason == "not chosen (setting `monthly_statistics`)"
    ran = run_due(world.instance, clock=FakeClock(NOON), runner_id="r")
    assert {s.name for s in ran} >= {"erasures", "checkpoint"}
    assert not {s.name for s in ran} & {"retention", "backups", "statistics", "witnesses"}


def test_a_failing_job_is_recorded_and_the_runner_goes_on(world: World, tmp_path: Path) -> None:
    # A backup folder but no backup key yet: the backup fails with a clear message.
    world.instance.settings = replace(world.instance.settings,
                                      backup_dir=str(tmp_path / "backups"))
    clock = FakeClock(NOON)
    runner = Runner(world.instance, clock=clock, runner_id="r")
    try:
        ran = {s.name: s for s in runner.step()}
    finally:
        runner.stop()
    assert ran["backups"].last_ok is False
    assert (ran["backups"].last_result or "").startswith("failed: ")
    assert ran["backups"].next_run_at == datetime(2027, 6, 1, 3, tzinfo=UTC)
    assert ran["checkpoint"].last_ok is True  # the jobs after it still ran


def test_the_commands_list_and_run_jobs(world: World) -> None:
    data_dir = str(world.instance.settings.data_dir)
    url = world.instance.settings.database_url
    cli = CliRunner(env={"SAFEREPORT_DATABASE_URL": url.reveal()} if url else None)
    listed = cli.invoke(main, ["--data-dir", data_dir, "jobs", "list"])
    assert listed.exit_code == 0, listed.output
    assert "erasures\tevery 1 hour(s)\tlast never\tnext at once\tnot run yet" in listed.output
    assert "backups\toff: no backup folder (setting `backup_dir`)" in listed.output
    ran = cli.invoke(main, ["--data-dir", data_dir, "jobs", "run", "checkpoint"])
    assert ran.exit_code == 0 and "ok: " in ran.output, ran.output
    off = cli.invoke(main, ["--data-dir", data_dir, "jobs", "run", "backups"])
    assert off.exit_code == 2 and "job backups is off: no backup folder" in off.output
    unknown = cli.invoke(main, ["--data-dir", data_dir, "jobs", "run", "nonsense"])
    assert unknown.exit_code == 2 and "no job 'nonsense'" in unknown.output
    dry = cli.invoke(main, ["--data-dir", data_dir, "retention", "run", "--dry-run"])
    assert dry.exit_code == 0 and "0 case(s) would be shredded" in dry.output
    rules = cli.invoke(main, ["--data-dir", data_dir, "retention", "rules"])
    assert "no retention rules" in rules.output


def test_retention_rules_come_from_config_and_environment(tmp_path: Path) -> None:
    from safereport.config import load_settings
    from safereport.errors import ConfigError

    made = make_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    made.instance.close()
    directory = made.instance.settings.data_dir
    config = directory / "config.toml"
    config.write_text(config.read_text() + 'retention = ["closed 6y", "new inactive 2y"]\n'
                      "retention_notice_days = 14\n")
    settings = load_settings(directory, env={})
    assert [r.name for r in settings.retention] == ["closed 6y", "new inactive 2y"]
    assert settings.retention_notice_days == 14
    from_env = load_settings(directory, env={"SAFEREPORT_RETENTION": "quarantined 30d"})
    assert [r.name for r in from_env.retention] == ["quarantined 30d"]
    with pytest.raises(ConfigError, match="not a rule"):
        load_settings(directory, env={"SAFEREPORT_RETENTION": "closed forever"})
    with pytest.raises(ConfigError, match="retention_notice_days"):
        load_settings(directory, env={"SAFEREPORT_RETENTION_NOTICE_DAYS": "0"})


def test_serve_starts_a_runner_unless_the_setting_says_no(world: World) -> None:
    from safereport.services.scheduler import start_scheduler

    world.instance.settings = replace(world.instance.settings, scheduler=False)
    assert start_scheduler(world.instance) is None
    world.instance.settings = replace(world.instance.settings, scheduler=True)
    runner = start_scheduler(world.instance)
    assert runner is not None and runner._thread is not None and runner._thread.is_alive()
    runner.stop()
    assert runner._thread is None


def test_scheduled_backups_keep_the_newest_n(world: World, tmp_path: Path) -> None:
    from safereport.services.backup import export_keys

    folder = tmp_path / "backups"
    folder.mkdir()
    export_keys(world.instance, tmp_path / "keys.srkeys", "a long synthetic passphrase 42")
    world.instance.settings = replace(world.instance.settings, backup_dir=str(folder),
                                      backup_keep=2)
    clock = FakeClock(NOON)
    written = []
    for _day in range(3):
        state = run_job(world.instance, "backups", clock=clock)
        assert state is not None and state.last_ok is True, state
        written.append(state.last_result)
        assert run_job(world.instance, "backups", clock=clock) is None  # once a day
        clock.advance(timedelta(days=1))
    archives = sorted(p.name for p in folder.iterdir())
    assert len(archives) == 2 and "20270601T" in archives[0] and "20270602T" in archives[1]
    assert "removed 1 older" in (written[2] or "")


def test_the_monthly_statistics_release_is_published_once(world: World) -> None:
    from safereport.stats.release import latest_releases

    world.instance.settings = replace(world.instance.settings, monthly_statistics=True)
    clock = FakeClock(datetime(2027, 6, 1, 4, 0, tzinfo=UTC))
    first = run_job(world.instance, "statistics", clock=clock)
    assert first is not None and first.last_ok is True, first
    assert (first.last_result or "").startswith("published release ")
    assert first.next_run_at == datetime(2027, 7, 1, 4, tzinfo=UTC)
    again = run_job(world.instance, "statistics", clock=clock, force=True)
    assert again is not None and "2027-05 was already released" in (again.last_result or "")
    assert [r.month for r in latest_releases(world.instance.engine)] == ["2027-05"]


def test_showing_the_jobs_writes_nothing(world: World) -> None:
    """The admin page shows the jobs on a GET: reading their states must not write a row."""
    from sqlalchemy import func, select

    from safereport.store.jobs import scheduled_job_runs

    states = scheduled_jobs(world.instance)
    assert {s.name for s in states} and all(s.runs == 0 and s.last_ok is None for s in states)
    with world.instance.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(scheduled_job_runs)).scalar() == 0
