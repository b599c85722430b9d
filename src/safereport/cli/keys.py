"""Commands: ``safereport keys rotate | status | generate-env`` (the vault's keys)."""

from __future__ import annotations

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from safereport.services.instance import Instance, open_instance
from safereport.store import vault as vault_rows
from safereport.vault import RotationReport, rotate_keys
from safereport.vault.keystore import generate_env_values
from safereport.vault.rotation import DEFAULT_BATCH

__all__ = ["commands"]


@click.group("keys")
def keys() -> None:
    """The vault's key-encryption keys: rotate them, see which are in use."""


@keys.command("rotate")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=DEFAULT_BATCH,
              show_default=True, help="Data keys rewrapped per transaction.")
@click.option("--resume-only", is_flag=True,
              help="Only finish an interrupted rotation; never make a new KEK.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def rotate(ctx: click.Context, batch_size: int, resume_only: bool, quiet: bool) -> None:
    """Make a new KEK and rewrap every case's data key with it (field data is untouched).

    Safe to interrupt: run it again and it finishes what is left. The old KEK is destroyed
    only when no data key uses it any more.
    """
    instance = open_instance(ctx.obj["data_dir"])
    try:
        report = _rotate(instance, batch_size, resume_only, quiet)
    finally:
        instance.close()
    _print_report(report)


def _rotate(instance: Instance, batch_size: int, resume_only: bool, quiet: bool) -> RotationReport:
    vault = instance.vault
    if quiet:
        return rotate_keys(instance.engine, vault, batch_size=batch_size, add=not resume_only)
    columns = (TextColumn("rewrapping data keys"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("rotate", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return rotate_keys(instance.engine, vault, batch_size=batch_size, progress=step,
                           add=not resume_only)


def _print_report(report: RotationReport) -> None:
    verb = "finished the interrupted rotation to" if report.resumed else "rotated to"
    click.echo(f"{verb} {report.kek_id}: {report.rewrapped} data keys rewrapped")
    for kek_id in report.retired:
        click.echo(f"retired {kek_id} (its key material is destroyed)")
    if report.retired:
        # An older keys backup still holds the retired KEK: with an older archive it would
        # open what was erased since (the operator's walk-through of 2026-12-03 did exactly
        # that). A new keys backup, and the old ones destroyed, make the erasures final.
        click.echo("next: write a new keys backup (`backup-keys`) and destroy the older ones: "
                   "they hold the retired key, and with an older archive would open erased cases")
    if report.failed:
        click.echo(f"warning: {report.failed} data keys could not be rewrapped", err=True)
    for kek_id, count in sorted(report.still_in_use.items()):
        click.echo(f"still in use: {kek_id} wraps {count} data keys; run the command again",
                   err=True)


@keys.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the current KEK, the active ones, and how many data keys each wraps."""
    instance = open_instance(ctx.obj["data_dir"])
    try:
        store = instance.vault.keys
        with instance.engine.connect() as conn:
            usage = vault_rows.kek_usage(conn)
        current = store.current_kek_id()
        click.echo(f"current KEK: {current}")
        for kek_id in sorted(set(store.active_kek_ids()) | set(usage)):
            mark = " (current)" if kek_id == current else ""
            click.echo(f"{kek_id}{mark}: wraps {usage.get(kek_id, 0)} data keys")
    finally:
        instance.close()


@keys.command("generate-env")
@click.argument("name", default="SAFEREPORT_KEK")
def generate_env(name: str) -> None:
    """Print fresh keys for the environment-variable key store (set kek_env = NAME)."""
    values = generate_env_values()
    click.echo(f"{name}={values['kek']}")
    click.echo(f"{name}_INDEX={values['index']}")


commands: list[click.Command] = [keys]
