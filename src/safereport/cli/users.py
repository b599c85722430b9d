"""``user list``, ``user disable``, ``user enable``: added to the ``user`` group of instance.py."""

from __future__ import annotations

from pathlib import Path

import click

from safereport.cli.instance import user
from safereport.services.instance import open_instance
from safereport.services.users import disable_user, enable_user, list_users

__all__ = ["commands"]


def _data_dir(ctx: click.Context) -> Path:
    return Path(ctx.find_root().obj["data_dir"])


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """List staff accounts: username, role, organisation, state, sessions, display name."""
    instance = open_instance(_data_dir(ctx))
    try:
        rows = list_users(instance)
    finally:
        instance.close()
    for row in rows:
        state = "active" if row.active else "disabled"
        if row.active and not row.enrolled:
            state = "active, not enrolled"
        click.echo(f"{row.username}\t{row.role}\t{row.org_name}\t{state}\t"
                   f"{row.sessions} session(s)\t{row.display_name}")


@user.command("disable")
@click.argument("username")
@click.pass_context
def user_disable(ctx: click.Context, username: str) -> None:
    """Disable an account: it can no longer sign in, and its sessions end now."""
    instance = open_instance(_data_dir(ctx))
    try:
        change = disable_user(instance, username)
    finally:
        instance.close()
    state = "disabled" if change.changed else "was already disabled"
    click.echo(f"{username} {state}; {change.sessions_ended} session(s) ended")


@user.command("enable")
@click.argument("username")
@click.pass_context
def user_enable(ctx: click.Context, username: str) -> None:
    """Re-enable a disabled account (same password and second factor)."""
    instance = open_instance(_data_dir(ctx))
    try:
        change = enable_user(instance, username)
    finally:
        instance.close()
    click.echo(f"{username} {'enabled' if change.changed else 'was already enabled'}")


#: Nothing new at the top level: these commands live in the ``user`` group.
commands: list[click.Command] = []
