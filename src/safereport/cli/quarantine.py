"""``safereport quarantine``: reports held as suspected spam (issue 19).

``shred-expired`` shreds every held report that nobody released within ``quarantine_days``
(default 30), each decided and recorded in the ledger; run it daily (the scheduler can call
:func:`safereport.services.quarantine.shred_expired_quarantine` instead). ``counts`` prints
what the auditor page shows.
"""

from __future__ import annotations

import click

from safereport.services.instance import open_instance
from safereport.services.quarantine import quarantine_counts, shred_expired_quarantine

__all__ = ["commands"]


@click.group()
def quarantine() -> None:
    """Reports held out of the case list as suspected spam."""


@quarantine.command("shred-expired")
@click.pass_context
def shred_expired(ctx: click.Context) -> None:
    """Shred held reports nobody released within quarantine_days (run daily)."""
    instance = open_instance(ctx.obj["data_dir"])
    try:
        count = shred_expired_quarantine(instance)
    finally:
        instance.close()
    click.echo(f"{count} held report(s) shredded")


@quarantine.command("counts")
@click.pass_context
def counts(ctx: click.Context) -> None:
    """How many reports are held, confirmed not real, released and shredded."""
    instance = open_instance(ctx.obj["data_dir"])
    try:
        with instance.engine.connect() as conn:
            found = quarantine_counts(conn)
    finally:
        instance.close()
    for name, count in found.items():
        click.echo(f"{name.replace('_', ' ')}: {count}")


commands: list[click.Command] = [quarantine]
