"""Retention with a fake clock: the right cases go, on the right day, once, after a notice at
her door; a dry run changes nothing; the shred is decided and in the ledger (issue 20)."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from tests.support.paths import SUPPORT
from tests.support.victim_world import World, make_world

from safereport.domain.case import CaseStatus, new_id
from safereport.domain.retention import add_period, parse_rules
from safereport.errors import ConfigError
from safereport.services.clock import FakeClock
from safereport.services.instance import Instance
from safereport.services.intake import parse_submission, submit_report
from safereport.services.retention import RETENTION_ACTOR_ID, run_retention
from safereport.services.scheduler import Runner, scheduled_jobs
from safereport.services.victim import VictimSession, case_overview, open_by_codename
from safereport.store.core import cases, notes, subjects, users
from safereport.store.db import make_engine
from safereport.store.jobs import retention_notices
from safereport.store.ledger import ledger_entries
from safereport.store.staff import case_closures

REPORT: dict[str, Any] = {"mode": "codename", "crime_type": "domestic_abuse",
                          "narrative": "Synthetic narrative for a retention test."}
CLOSED_ON = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
SIX_YEARS = datetime(2032, 3, 10, 9, 30, tzinfo=UTC)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Any:
    made = make_world(tmp_path, db_url)
    settings = replace(made.instance.settings, retention=parse_rules(["closed 6y"]),
                       retention_notice_days=30)
    made.instance.settings = settings
    try:
        yield made
    finally:
        made.instance.close()


def _report(world: World) -> tuple[VictimSession, str]:
    made = submit_report(world.instance, parse_submission(REPORT))
    assert made.codename is not None
    session = open_by_codename(world.instance, made.codename)
    assert session is not None
    return session, made.codename


def _staff(world: World) -> str:
    user_id = new_id()
    with world.instance.engine.begin() as conn:
        conn.execute(users.insert().values(
            id=user_id, org_id=world.support_id, username=f"sup-{user_id[:6]}",
            display_name="Supervisor", role="supervisor", password_hash="x", failed_logins=0,
            active=True, created_at=CLOSED_ON))
    return user_id


def _close(world: World, case_id: str, when: datetime, *, org: str | None = None) -> None:
    by = _staff(world)
    with world.instance.engine.begin() as conn:
        values: dict[str, Any] = {"status": CaseStatus.CLOSED.value, "updated_at": when}
        if org is not None:
            values["org_id"] = org
        conn.execute(update(cases).where(cases.c.id == case_id).values(**values))
        conn.execute(case_closures.insert().values(id=new_id(), case_id=case_id, reason="other",
                                                   closed_by=by, closed_at=when))


def _erased(world: World, case_id: str) -> bool:
    with world.instance.engine.connect() as conn:
        return conn.execute(select(cases.c.erased_at).where(cases.c.id == case_id)).scalar() \
            is not None


def _retention_entries(world: World, case_id: str) -> list[Any]:
    with world.instance.engine.connect() as conn:
        return [e for e in world.instance.ledger.entries_for_case(conn, case_id)
                if e.actor_id == RETENTION_ACTOR_ID]


def _snapshot(world: World) -> tuple[Any, ...]:
    with world.instance.engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(ledger_entries)).scalar(),
            conn.execute(select(func.count()).select_from(retention_notices)).scalar(),
            sorted(tuple(r) for r in conn.execute(select(cases.c.id, cases.c.status,
                                                         cases.c.erased_at))),
            conn.execute(select(func.count()).select_from(notes)).scalar(),
        )


def test_rules_parse_and_bad_ones_say_what_is_wrong() -> None:
    rules = parse_rules("closed 6y; new inactive 2y; quarantined 30d")
    assert [r.name for r in rules] == ["closed 6y", "new inactive 2y", "quarantined 30d"]
    assert rules[0].due(CLOSED_ON) == SIX_YEARS
    assert add_period(datetime(2024, 2, 29, tzinfo=UTC), 1, "y") == datetime(2025, 2, 28,
                                                                             tzinfo=UTC)
    for bad, words in [("closed six years", "not a rule"), ("new 2y", "inactivity"),
                       ("erased 1y", "unknown kind"), ("closed 0d", "at least 1 day"),
                       ("closed 6y; closed 7y", "two rules")]:
        with pytest.raises(ConfigError, match=words):
            parse_rules(bad)


def test_a_closed_case_goes_on_its_day_after_a_notice_at_her_door(world: World) -> None:
    session, codename = _report(world)
    kept, _ = _report(world)
    _close(world, session.case_id, CLOSED_ON)
    _close(world, kept.case_id, CLOSED_ON + timedelta(days=1))  # due one day later
    clock = FakeClock(SIX_YEARS - timedelta(days=31))

    run_retention(world.instance, clock=clock)
    assert case_overview(world.instance, session).retention_shred_on is None  # not yet told

    clock.set(SIX_YEARS - timedelta(days=30))
    report = run_retention(world.instance, clock=clock)
    assert {i.reference: i.action for i in report.items}[
        case_overview(world.instance, session).reference] == "notice"
    assert case_overview(world.instance, session).retention_shred_on == SIX_YEARS

    clock.set(SIX_YEARS - timedelta(seconds=1))
    run_retention(world.instance, clock=clock)
    assert not _erased(world, session.case_id)

    clock.set(SIX_YEARS)
    report = run_retention(world.instance, clock=clock)
    assert [i.action for i in report.items if i.case_id == session.case_id] == ["shredded"]
    assert _erased(world, session.case_id) and not _erased(world, kept.case_id)
    assert open_by_codename(world.instance, codename) is None  # the door went with the data
    [entry] = _retention_entries(world, session.case_id)
    assert entry.action == "erase" and entry.effect == "allow"
    with world.instance.engine.connect() as conn:
        leaf = conn.execute(select(ledger_entries.c.leaf)
                            .where(ledger_entries.c.idx == entry.index)).scalar()
    recorded = json.loads(leaf)
    assert recorded["actor"] == {"id": RETENTION_ACTOR_ID, "role": "supervisor",
                                 "org": "support_service"}
    assert recorded["rules"] == ["C-casework"]
    assert recorded["detail"] == {"automated": "true", "event": "retention_erased",
                                  "rule": "closed 6y"}

    # The other case came within its notice period only at the run of SIX_YEARS - 1s (no run
    # in between): she is told then, and it goes a full notice period later, not on its due day.
    told_late = SIX_YEARS - timedelta(seconds=1) + timedelta(days=30)
    assert case_overview(world.instance, kept).retention_shred_on == told_late
    clock.set(SIX_YEARS + timedelta(days=1, seconds=1))
    run_retention(world.instance, clock=clock)
    assert not _erased(world, kept.case_id)
    clock.set(told_late)
    run_retention(world.instance, clock=clock)
    assert _erased(world, kept.case_id)
    clock.set(told_late + timedelta(days=5))
    run_retention(world.instance, clock=clock)
    assert len(_retention_entries(world, session.case_id)) == 1  # once


def test_a_reopened_case_loses_its_notice_and_stays(world: World) -> None:
    session, _ = _report(world)
    _close(world, session.case_id, CLOSED_ON)
    clock = FakeClock(SIX_YEARS - timedelta(days=10))
    run_retention(world.instance, clock=clock)
    assert case_overview(world.instance, session).retention_shred_on == SIX_YEARS + timedelta(
        days=20)  # told now: never sooner than the notice period
    with world.instance.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == session.case_id)
                     .values(status=CaseStatus.IN_PROGRESS.value))
    clock.set(SIX_YEARS + timedelta(days=40))
    report = run_retention(world.instance, clock=clock)
    assert report.withdrawn == [case_overview(world.instance, session).reference]
    assert not _erased(world, session.case_id)
    assert case_overview(world.instance, session).retention_shred_on is None


INACTIVE_SINCE = datetime(2027, 1, 1, tzinfo=UTC)


def _inactive_case(world: World) -> VictimSession:
    """Under 'new inactive 1y', a new case whose last change and messages were at
    INACTIVE_SINCE."""
    world.instance.settings = replace(world.instance.settings,
                                      retention=parse_rules(["new inactive 1y"]))
    session, _ = _report(world)
    with world.instance.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == session.case_id)
                     .values(updated_at=INACTIVE_SINCE))
        conn.execute(update(notes).where(notes.c.case_id == session.case_id)
                     .values(created_at=INACTIVE_SINCE))
    return session


def _her_message(world: World, session: VictimSession, when: datetime) -> None:
    with world.instance.engine.begin() as conn:
        conn.execute(notes.insert().values(
            id=new_id(), case_id=session.case_id, author_kind="victim", visible_to_subject=True,
            sealed=b"x", created_at=when))


def test_inactivity_counts_her_messages(world: World) -> None:
    session = _inactive_case(world)
    start = INACTIVE_SINCE
    _her_message(world, session, start + timedelta(days=100))
    # a year after the case's last change, but her message came 100 days later: not yet
    clock = FakeClock(add_period(start, 1, "y") + timedelta(days=1))
    assert run_retention(world.instance, clock=clock, dry_run=True).items == []
    clock.set(add_period(start + timedelta(days=100), 1, "y") - timedelta(days=30))
    report = run_retention(world.instance, clock=clock, dry_run=True)
    assert [i.action for i in report.items] == ["notice"]
    assert report.items[0].since == start + timedelta(days=100)


def test_a_dry_run_changes_nothing_and_lists_what_would_go(world: World) -> None:
    session, _ = _report(world)
    _close(world, session.case_id, CLOSED_ON)
    clock = FakeClock(SIX_YEARS - timedelta(days=30))
    run_retention(world.instance, clock=clock)  # notice given
    clock.set(SIX_YEARS)
    before = _snapshot(world)
    report = run_retention(world.instance, clock=clock, dry_run=True)
    assert [i.action for i in report.items] == ["shred"]
    assert "1 case(s) would be shredded" in report.summary()
    assert _snapshot(world) == before


def test_a_police_held_case_is_kept_and_said_so(world: World) -> None:
    session, _ = _report(world)
    _close(world, session.case_id, CLOSED_ON, org=world.police_id)
    clock = FakeClock(SIX_YEARS + timedelta(days=60))
    run_retention(world.instance, clock=clock)
    report = run_retention(world.instance, clock=clock)
    assert [i.action for i in report.items] == ["kept"]
    assert not _erased(world, session.case_id)


def test_a_quarantined_report_goes_by_the_quarantine_marker(world: World) -> None:
    from safereport.store.quarantine import quarantine

    world.instance.settings = replace(world.instance.settings,
                                      retention=parse_rules(["quarantined 30d"]))
    held, _ = _report(world)
    released, _ = _report(world)
    held_at = datetime(2027, 1, 1, tzinfo=UTC)
    with world.instance.engine.begin() as conn:
        for session, outcome in ((held, ""), (released, "released")):
            conn.execute(quarantine.insert().values(
                case_id=session.case_id, org_id=world.support_id, reason="honeypot", score=0.0,
                features="", held_at=held_at, outcome=outcome))
    clock = FakeClock(held_at + timedelta(days=1))
    report = run_retention(world.instance, clock=clock)
    assert report.warnings == []
    assert [(i.case_id, i.action) for i in report.items] == [(held.case_id, "notice")]
    assert report.items[0].shred_on == held_at + timedelta(days=31)  # a full notice period
    clock.set(held_at + timedelta(days=31))
    report = run_retention(world.instance, clock=clock)
    assert [i.action for i in report.items] == ["shredded"]
    assert _erased(world, held.case_id) and not _erased(world, released.case_id)


def test_without_a_quarantine_marker_the_rule_says_it_selects_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safereport.services import retention as module

    monkeypatch.setattr(module, "_marker", lambda: None)  # a version with no quarantine
    world.instance.settings = replace(world.instance.settings,
                                      retention=parse_rules(["quarantined 30d"]))
    report = run_retention(world.instance, clock=FakeClock(SIX_YEARS), dry_run=True)
    assert report.items == [] and "no quarantine marker" in report.warnings[0]


def test_several_runners_shred_each_case_exactly_once(world: World) -> None:
    sessions = [_report(world)[0] for _ in range(4)]
    for session in sessions:
        _close(world, session.case_id, CLOSED_ON)
    clock = FakeClock(SIX_YEARS - timedelta(days=30, hours=2))
    # four workers, each with its own instance (engine, pool, ledger), as `serve --workers 4`
    workers = [Instance(settings=world.instance.settings,
                        engine=make_engine(world.instance.settings.effective_database_url()))
               for _ in range(4)]
    runners = [Runner(worker, clock=clock, runner_id=f"runner-{n}")
               for n, worker in enumerate(workers)]

    def tick_all() -> None:
        barrier = threading.Barrier(len(runners))

        def go(runner: Runner) -> None:
            barrier.wait()
            runner.step()

        threads = [threading.Thread(target=go, args=(r,)) for r in runners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    try:
        for _day in range(33):  # a month and a bit, a tick a day (the lease lapses between days)
            tick_all()
            clock.advance(timedelta(days=1))
    finally:
        for runner in runners:
            runner.stop()  # hands back the lead (the advisory lock's connection, or the lease)
        for worker in workers:
            worker.close()
    for session in sessions:
        assert _erased(world, session.case_id)
        assert len(_retention_entries(world, session.case_id)) == 1
    [state] = [s for s in scheduled_jobs(world.instance) if s.name == "retention"]
    assert state.last_ok is True and state.runs == 33
    with world.instance.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(retention_notices)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(subjects)
                            .where(subjects.c.lookup_id.is_not(None))).scalar() == 0


def test_her_return_page_says_the_day_in_her_language(tmp_path: Path) -> None:
    import re

    from tests.support.victim_client import TestClient

    from safereport.web.app import create_app

    made = make_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    made.instance.settings = replace(made.instance.settings, retention=parse_rules("closed 6y"))
    try:
        session, codename = _report(made)
        _close(made, session.case_id, CLOSED_ON)
        with TestClient(create_app(made.instance)) as client:
            def page(lang: str) -> str:
                form = client.get("/return").text
                token = re.search(r'name="csrf_token" value="([^"]+)"', form)
                assert token is not None
                return str(client.post("/return", data={
                    "csrf_token": token.group(1), "codename": codename, "lang": lang}).text)

            assert 'id="retention-notice"' not in page("en")
            run_retention(made.instance, clock=FakeClock(SIX_YEARS - timedelta(days=30)))
            english = page("en")
            assert 'id="retention-notice"' in english
            assert "will be deleted for good on" in english and "2032" in english
            spanish = page("es")
            assert "se borrará para siempre el" in spanish
    finally:
        made.instance.close()


@pytest.mark.parametrize("regime", ["firewall", "firewall-consent", "npcc-2020", "npcc-2020-rec1"])
def test_the_guard_allows_the_shred_in_every_regime(tmp_path: Path, regime: str) -> None:
    made = make_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}", regime=regime)
    made.instance.settings = replace(made.instance.settings, retention=parse_rules("closed 6y"))
    try:
        session, _ = _report(made)
        _close(made, session.case_id, CLOSED_ON)
        clock = FakeClock(SIX_YEARS - timedelta(days=30))
        run_retention(made.instance, clock=clock)
        clock.set(SIX_YEARS)
        report = run_retention(made.instance, clock=clock)
        assert [i.action for i in report.items] == ["shredded"], report.items
        [entry] = _retention_entries(made, session.case_id)
        assert entry.effect == "allow" and entry.rules == ("C-casework",)
    finally:
        made.instance.close()


def test_worker_processes_contending_shred_each_case_once(world: World) -> None:
    """Three processes, each a `serve` worker's runner with its own fake clock set to the same
    day, step together for 33 days: each case goes once, on its day."""
    import subprocess
    import sys

    sessions = [_report(world)[0] for _ in range(3)]
    for n, session in enumerate(sessions):
        _close(world, session.case_id, CLOSED_ON + timedelta(days=n))
    settings = world.instance.settings
    config = settings.data_dir / "config.toml"
    config.write_text(config.read_text(encoding="utf-8") + 'retention = ["closed 6y"]\n',
                      encoding="utf-8")
    url = settings.database_url.reveal() if settings.database_url else "-"
    worker = SUPPORT / "runner_worker.py"
    procs = [subprocess.Popen([sys.executable, str(worker), str(settings.data_dir), url,
                               f"process-{n}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for n in range(3)]
    ran_retention = 0
    erased_on: dict[str, datetime] = {}
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        day = SIX_YEARS - timedelta(days=31) + timedelta(hours=3)
        for _ in range(36):
            for proc in procs:  # all of them are told before any answer is read
                assert proc.stdin is not None
                proc.stdin.write(f"TICK {day.isoformat()}\n")
                proc.stdin.flush()
            for proc in procs:
                assert proc.stdout is not None
                answer = proc.stdout.readline().split()
                assert answer[0] == "DONE"
                ran_retention += "retention" in (answer[1].split(",") if len(answer) > 1 else [])
            for session in sessions:
                if session.case_id not in erased_on and _erased(world, session.case_id):
                    erased_on[session.case_id] = day
            day += timedelta(days=1)
    finally:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in procs:
            assert proc.wait(timeout=120) == 0
            assert proc.stdout is not None
            proc.stdout.close()
    assert ran_retention == 36  # once a day, by one process
    for n, session in enumerate(sessions):
        assert len(_retention_entries(world, session.case_id)) == 1
        # the first tick on or after its sixth anniversary (noticed exactly 30 days before)
        assert erased_on[session.case_id].date() == (SIX_YEARS + timedelta(days=n)).date()


def test_a_message_after_the_notice_withdraws_it_and_a_later_notice_is_a_full_one(
    world: World
) -> None:
    session = _inactive_case(world)
    due = add_period(INACTIVE_SINCE, 1, "y")
    clock = FakeClock(due - timedelta(days=30))
    run_retention(world.instance, clock=clock)
    assert case_overview(world.instance, session).retention_shred_on == due
    written = due - timedelta(days=10)  # she writes ten days before it would go
    _her_message(world, session, written)
    clock.set(due - timedelta(days=9))
    report = run_retention(world.instance, clock=clock)
    assert report.withdrawn == [case_overview(world.instance, session).reference]
    assert case_overview(world.instance, session).retention_shred_on is None
    clock.set(due)
    run_retention(world.instance, clock=clock)
    assert not _erased(world, session.case_id)
    again = add_period(written, 1, "y")
    clock.set(again - timedelta(days=30))
    run_retention(world.instance, clock=clock)
    assert case_overview(world.instance, session).retention_shred_on == again  # told afresh
    clock.set(again)
    run_retention(world.instance, clock=clock)
    assert _erased(world, session.case_id)


def test_a_rule_shortened_after_the_notice_waits_for_the_day_she_was_told(world: World) -> None:
    session, _ = _report(world)
    _close(world, session.case_id, CLOSED_ON)
    clock = FakeClock(SIX_YEARS - timedelta(days=30))
    run_retention(world.instance, clock=clock)
    assert case_overview(world.instance, session).retention_shred_on == SIX_YEARS
    world.instance.settings = replace(world.instance.settings,
                                      retention=parse_rules(["closed 5y"]))
    clock.set(SIX_YEARS - timedelta(days=1))
    report = run_retention(world.instance, clock=clock)
    assert [i.action for i in report.items] == ["noticed"] and not _erased(world, session.case_id)
    assert case_overview(world.instance, session).retention_shred_on == SIX_YEARS
    clock.set(SIX_YEARS)
    run_retention(world.instance, clock=clock)
    assert _erased(world, session.case_id)
