"""Backups: ``backup-keys`` (once, and after each key rotation), ``backup`` and ``restore``."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

import click

from safereport.services.backup import create_backup, export_keys, restore_backup
from safereport.services.instance import open_instance

__all__ = ["commands"]

_SHOWN_COUNTS = ("cases", "notes", "reports", "users", "ledger_entries")


def _passphrase(from_stdin: bool, *, confirm: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Passphrase for the keys backup", hide_input=True,
                            confirmation_prompt=confirm))


@click.command("backup-keys")
@click.option("--to", "destination", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (keep it apart from the archives, e.g. offline).")
@click.option("--passphrase-stdin", is_flag=True, help="Read the passphrase from standard input.")
@click.pass_context
def backup_keys(ctx: click.Context, destination: Path, passphrase_stdin: bool) -> None:
    """Write the instance's keys, sealed under a passphrase, to a file of their own."""
    if destination.exists():
        raise click.UsageError(f"{destination} exists; choose a new file")
    instance = open_instance(Path(ctx.obj["data_dir"]))
    try:
        export_keys(instance, destination, _passphrase(passphrase_stdin, confirm=True))
    finally:
        instance.close()
    click.echo(f"wrote the keys backup {destination}: keep it apart from the archives; "
               "without it and its passphrase no archive can be restored")


@click.command("backup")
@click.option("--to", "directory", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="The folder the archive goes into (outside the data directory).")
@click.option("--keep", type=click.IntRange(min=1), default=None,
              help="Afterwards keep only this instance's newest N archives in that folder.")
@click.pass_context
def backup(ctx: click.Context, directory: Path, keep: int | None) -> None:
    """Write one sealed archive of the (running) instance: database, config, no keys."""
    instance = open_instance(Path(ctx.obj["data_dir"]))
    try:
        result = create_backup(instance, directory, keep=keep)
    finally:
        instance.close()
    click.echo(f"wrote {result.path} ({result.size:,} bytes): {_counts(result.counts)}")
    for path in result.removed:
        click.echo(f"removed the older archive {path.name}")


@click.command("restore")
@click.argument("archive", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--keys", "keys_file", required=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The keys backup written by `safereport backup-keys`.")
@click.option("--passphrase-stdin", is_flag=True, help="Read the passphrase from standard input.")
@click.pass_context
def restore(ctx: click.Context, archive: Path, keys_file: Path, passphrase_stdin: bool) -> None:
    """Restore an archive into a new --data-dir (and SAFEREPORT_DATABASE_URL, if PostgreSQL)."""
    result = restore_backup(
        archive, keys_file, _passphrase(passphrase_stdin, confirm=False),
        Path(ctx.obj["data_dir"]),
        database_url=os.environ.get("SAFEREPORT_DATABASE_URL") or None,
    )
    click.echo(f"restored {archive.name} into {result.target} ({result.database})")
    click.echo(f"ledger verify: ok: {result.ledger_size} entries, "
               f"{result.ledger_checkpoints} checkpoint(s) checked, "
               f"root {base64.b64encode(result.ledger_root).decode()}")
    click.echo(f"every table's count matches the archive: {_counts(result.counts)}")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {counts[name]:,}" for name in _SHOWN_COUNTS if name in counts)


commands: list[click.Command] = [backup, backup_keys, restore]
