"""Commands: ``safereport stats ...``: differentially private statistics releases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from safereport.errors import InvalidInput
from safereport.services.instance import Instance, open_instance
from safereport.stats.export import release_csv
from safereport.stats.release import (
    DEFAULT_BUDGET,
    PublishedRelease,
    ReleaseOptions,
    budget_ledger,
    budget_status,
    latest_releases,
    load_release,
    parse_period,
    previous_month,
    publish_release,
    verify_release,
)

commands: list[click.Command] = []


@click.group("stats")
def stats() -> None:
    """Differentially private statistics of the firewall's decisions."""


def _print_release(release: PublishedRelease) -> None:
    console = Console()
    console.print(f"release {release.id} (period {release.month}), epsilon {release.epsilon:.4g}"
                  ", delta 0")
    for table in release.tables:
        grid = Table("category", "count", "95% interval", "noisy (unprocessed)",
                     title=f"{table.title} (epsilon {table.epsilon:.4g}, ±{table.error_95} at 95%)")
        for cell in table.cells:
            noisy = "" if cell.noisy is None else str(cell.noisy)
            grid.add_row(cell.category, cell.shown, f"{cell.low} to {cell.high}", noisy)
        console.print(grid)
    if release.all_uncertain:
        console.print("No count of this release rises above its noise: every one is too "
                      "uncertain to show. Release a longer period (a quarter or a year).")


@stats.command("release")
@click.option("--period", help="The period to release: a month YYYY-MM, a quarter YYYY-Qn or a "
              "year YYYY (default: last month).")
@click.option("--month", help="The same as --period, for a month (kept for scripts).")
@click.option("--epsilon", type=float, default=0.5, show_default=True,
              help="Privacy loss this release spends from its year's budget.")
@click.option("--budget", type=float, default=DEFAULT_BUDGET, show_default=True,
              help="The year's total budget, the annual cap (fixed by the year's first release).")
@click.option("--entries-per-case", type=int, default=5, show_default=True,
              help="Entries of one case counted per month (the contribution bound).")
@click.option("--rules-per-entry", type=int, default=2, show_default=True,
              help="Rule ids of one entry counted.")
@click.option("--threshold", type=int, default=10, show_default=True,
              help="No count below this is shown, however narrow its interval.")
@click.option("--note", "notes", multiple=True,
              help="A release note published with the release (repeatable).")
@click.option("--quiet", is_flag=True, help="No progress bar and no tables; print the id only.")
@click.pass_context
def release(ctx: click.Context, period: str | None, month: str | None, epsilon: float,
            budget: float, entries_per_case: int, rules_per_entry: int, threshold: int,
            notes: tuple[str, ...], quiet: bool) -> None:
    """Count, add noise, sign and publish one period's statistics."""
    if period and month:
        raise InvalidInput("give --period or --month, not both")
    options = ReleaseOptions(epsilon=epsilon, budget=budget, entries_per_case=entries_per_case,
                             rules_per_entry=rules_per_entry, threshold=threshold,
                             notes=notes)
    chosen = period or month
    wanted = parse_period(chosen).key if chosen else previous_month(datetime.now(UTC))
    instance = open_instance(ctx.obj["data_dir"])
    try:
        published = _publish(instance, wanted, options, quiet)
    finally:
        instance.close()
    if quiet:
        click.echo(published.id)
    else:
        _print_release(published)


def _publish(instance: Instance, period: str, options: ReleaseOptions,
             quiet: bool) -> PublishedRelease:
    signer = instance.ledger.signer
    if quiet:
        return publish_release(instance.engine, signer, period, options)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def step(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        return publish_release(instance.engine, signer, period, options, progress=step)


@stats.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """List the latest releases."""
    instance = open_instance(ctx.obj["data_dir"])
    try:
        found = latest_releases(instance.engine, limit=100)
    finally:
        instance.close()
    for item in found:
        click.echo(f"{item.id}\t{item.month}\tepsilon {item.epsilon:.4g}\t{item.created_at}")


def _load(instance: Instance, release_id: str) -> PublishedRelease:
    found = load_release(instance.engine, release_id)
    if found is None:
        raise InvalidInput(f"no statistics release {release_id!r} (see `safereport stats list`)")
    return found


@stats.command("show")
@click.argument("release_id")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json", "note"]),
              default="text", show_default=True)
@click.pass_context
def show(ctx: click.Context, release_id: str, fmt: str) -> None:
    """Print a release as tables, CSV, its signed JSON body, or its signed note."""
    instance = open_instance(ctx.obj["data_dir"])
    try:
        found = _load(instance, release_id)
    finally:
        instance.close()
    if fmt == "text":
        _print_release(found)
    else:
        output = {"csv": release_csv(found), "json": found.body + "\n", "note": found.note}[fmt]
        click.echo(output, nl=False)


@stats.command("verify")
@click.argument("body", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("note", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--vkey", required=True, help="The log's verifier key (from the public page).")
def verify(body: Path, note: Path, vkey: str) -> None:
    """Check a downloaded release BODY (.json) against its signed NOTE, offline."""
    text = body.read_text(encoding="utf-8").removesuffix("\n")
    data = verify_release(text, note.read_text(encoding="utf-8"), vkey)
    click.echo(f"release {data['id']} verifies: signed by {data['origin']}")


@stats.command("budget")
@click.argument("year", required=False)
@click.pass_context
def budget(ctx: click.Context, year: str | None) -> None:
    """Show the privacy budget ledger: each year's cap, what was spent, and every charge.

    With YEAR (or any period in it, e.g. 2026-11), only that year's line."""
    instance = open_instance(ctx.obj["data_dir"])
    try:
        if year is not None:
            wanted = parse_period(year).year
            total, spent = budget_status(instance.engine, wanted)
            shown = f"{total:g}" if total is not None else f"{DEFAULT_BUDGET:g} (default; unset)"
            click.echo(f"{wanted}: spent {round(spent, 6):g} of {shown}")
            return
        for item in budget_ledger(instance.engine):
            cap = "no annual cap (older monthly budgets)" if item.total is None else \
                f"cap {item.total:g}, {round(item.left or 0.0, 6):g} left"
            click.echo(f"{item.year}: spent {round(item.spent, 6):g}; {cap}")
            for charge in item.charges:
                click.echo(f"  {charge.release_id}\t{charge.period}\tepsilon {charge.epsilon:.4g}"
                           f"\t{charge.created_at:%Y-%m-%d}")
    finally:
        instance.close()


commands.append(stats)
