"""Commands: ``safereport jobs list|run`` and ``safereport retention rules|run``.

``serve`` runs the jobs itself (one runner per database); these commands show what they did
and run one now, through the same claim, so a hand-run never overlaps the scheduled one.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from safereport.errors import InvalidInput
from safereport.services.instance import open_instance
from safereport.services.retention import RetentionItem, run_retention
from safereport.services.scheduler import JobState, run_job, scheduled_jobs

__all__ = ["commands"]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "never"


def _state_line(state: JobState) -> str:
    if not state.enabled:
        return f"{state.name}\toff: {state.off_reason}"
    outcome = {None: "", True: "ok: ", False: "FAILED: "}[state.last_ok]
    result = f"{outcome}{state.last_result}" if state.last_result else "not run yet"
    upcoming = _when(state.next_run_at) if state.next_run_at else "at once"
    nxt = "running now" if state.running else f"next {upcoming}"
    return (f"{state.name}\t{state.cadence}\tlast {_when(state.last_started_at)}\t{nxt}\t"
            f"{result}")


@click.group()
def jobs() -> None:
    """The scheduled work that `serve` runs: erasures, retention, checkpoints, witnesses,
    statistics, backups."""


@jobs.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """One line per job: name, cadence, last run, next run, last result (or why it is off)."""
    instance = open_instance(Path(ctx.obj["data_dir"]))
    try:
        for state in scheduled_jobs(instance):
            click.echo(_state_line(state))
    finally:
        instance.close()


@jobs.command("run")
@click.argument("name")
@click.pass_context
def run(ctx: click.Context, name: str) -> None:
    """Run job NAME now (unless a runner is running it); its result is stored as scheduled."""
    instance = open_instance(Path(ctx.obj["data_dir"]))
    try:
        state = run_job(instance, name, force=True)
    finally:
        instance.close()
    if state is None:
        raise InvalidInput(f"job {name} is running now (see `safereport jobs list`)")
    click.echo(_state_line(state))
    if not state.last_ok:
        raise SystemExit(1)


@click.group()
def retention() -> None:
    """The retention schedule: which cases are shredded, when, after a notice at her door."""


@retention.command("rules")
@click.pass_context
def rules(ctx: click.Context) -> None:
    """Print the schedule (setting `retention`) in words."""
    instance = open_instance(Path(ctx.obj["data_dir"]))
    try:
        settings = instance.settings
    finally:
        instance.close()
    if not settings.retention:
        click.echo("no retention rules: nothing is shredded by age (setting `retention`)")
        return
    for rule in settings.retention:
        click.echo(f"{rule.name}\t{rule.describe()}")
    click.echo(f"notice at her door {settings.retention_notice_days} days before")


def _item_line(item: RetentionItem) -> str:
    reason = f"\t{item.reason}" if item.reason else ""
    return (f"{item.action}\t{item.reference}\t{item.rule}\tsince {item.since:%Y-%m-%d}\t"
            f"goes {item.shred_on:%Y-%m-%d}{reason}")


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="List what would happen; change nothing.")
@click.pass_context
def retention_run(ctx: click.Context, dry_run: bool) -> None:
    """Give notices and shred what is due now (the `retention` job does this daily).

    One line per case: what happens to it (notice, noticed, shred or shredded, refused, kept),
    its reference, the rule, when its count started and the day it goes.
    """
    instance = open_instance(Path(ctx.obj["data_dir"]))
    try:
        report = run_retention(instance, dry_run=dry_run)
    finally:
        instance.close()
    for item in report.items:
        click.echo(_item_line(item))
    for reference in report.withdrawn:
        click.echo(f"withdrawn\t{reference}\tno longer matches its rule")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(report.summary())


commands: list[click.Command] = [jobs, retention]
