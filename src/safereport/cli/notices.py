"""``safereport notices ...``: neutral notices (issue 18) from cron, and how they ended.

``serve`` sends them itself when notices are configured; ``notices send`` does one pass (for
a deployment that runs no server process all the time, or to send what waits at once).
"""

from __future__ import annotations

import click

from safereport.services.instance import open_instance
from safereport.services.notices import deliver_due, outcome_counts
from safereport.web.victim_notices import translate

__all__ = ["commands"]


@click.group()
def notices() -> None:
    """Neutral notices: her safe channel, her safe times, nothing of the message."""


@notices.command("send")
@click.pass_context
def send(ctx: click.Context) -> None:
    """Send every notice that is due now (each a recorded read of her contact details)."""
    instance = open_instance(ctx.obj["data_dir"])
    try:
        settled = deliver_due(instance, translate=translate, limit=500)
    finally:
        instance.close()
    click.echo(f"{settled} notice(s) settled")


@notices.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """How many notices wait, and how the others ended (no address, no case)."""
    instance = open_instance(ctx.obj["data_dir"])
    try:
        found = outcome_counts(instance)
    finally:
        instance.close()
    for name, count in found.items():
        click.echo(f"{name.replace('_', ' ')}: {count}")


commands: list[click.Command] = [notices]
