"""``user list``, ``disable``, ``enable``, ``reset-password``, ``set-role``, ``reset-factor``,
``confirm-reset``, ``cancel-reset``: added to the ``user`` group of instance.py.

The operator at the command line holds the instance's files and may change accounts; each
change is on the ledger as ``operator:cli``. A second-factor reset needs two *named*
administrators (``--as``), each checked with their password and current code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from safereport.cli.instance import user
from safereport.domain.vocabulary import ActorRole
from safereport.services.instance import Instance, open_instance
from safereport.services.users import (
    Admin,
    authenticate_admin,
    cancel_factor_reset,
    change_role,
    confirm_factor_reset,
    disable_user,
    enable_user,
    list_users,
    must_change_password,
    pending_factor_resets,
    request_factor_reset,
    reset_password,
)

__all__ = ["commands"]

_T = TypeVar("_T")


def _data_dir(ctx: click.Context) -> Path:
    return Path(ctx.find_root().obj["data_dir"])


def _with_instance(ctx: click.Context, work: Callable[[Instance], _T]) -> _T:
    instance = open_instance(_data_dir(ctx))
    try:
        return work(instance)
    finally:
        instance.close()


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """List staff accounts: username, role, organisation, state, sessions, display name."""
    instance = open_instance(_data_dir(ctx))
    try:
        rows = list_users(instance)
        changing = must_change_password(instance)
        waiting = {r.username for r in pending_factor_resets(instance)}
    finally:
        instance.close()
    for row in rows:
        state = "active" if row.active else "disabled"
        if row.active and not row.enrolled:
            state = "active, not enrolled"
        if row.username in changing:
            state += ", one-time password"
        if row.username in waiting:
            state += ", factor reset waiting"
        click.echo(f"{row.username}\t{row.role}\t{row.org_name}\t{state}\t"
                   f"{row.sessions} session(s)\t{row.display_name}")


@user.command("disable")
@click.argument("username")
@click.pass_context
def user_disable(ctx: click.Context, username: str) -> None:
    """Disable an account: it can no longer sign in, and its sessions end now."""
    change = _with_instance(ctx, lambda instance: disable_user(instance, username))
    state = "disabled" if change.changed else "was already disabled"
    click.echo(f"{username} {state}; {change.sessions_ended} session(s) ended")


@user.command("enable")
@click.argument("username")
@click.pass_context
def user_enable(ctx: click.Context, username: str) -> None:
    """Re-enable a disabled account (same password and second factor)."""
    change = _with_instance(ctx, lambda instance: enable_user(instance, username))
    click.echo(f"{username} {'enabled' if change.changed else 'was already enabled'}")


@user.command("reset-password")
@click.argument("username")
@click.pass_context
def user_reset_password(ctx: click.Context, username: str) -> None:
    """Give an account a one-time password (printed once) that must be changed at the next
    sign-in; its sessions end. The second factor is still needed."""
    password = _with_instance(ctx, lambda instance: reset_password(instance, username))
    click.echo(f"{username}: one-time password {password}")
    click.echo("give it to them by phone or in person; it works once, to choose their own")


@user.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice([r.value for r in ActorRole
                                           if r is not ActorRole.VICTIM]))
@click.pass_context
def user_set_role(ctx: click.Context, username: str, role: str) -> None:
    """Change an account's role (it must fit the organisation); its sessions end."""
    change = _with_instance(ctx, lambda instance: change_role(instance, username, role))
    if change.changed:
        click.echo(f"{username} is now {role}; {change.sessions_ended} session(s) ended")
    else:
        click.echo(f"{username} was already {role}")


def _as_admin(ctx: click.Context, username: str, work: Callable[[Instance, Admin], _T]) -> _T:
    """Run ``work`` as the named administrator, asked for their password and current code."""

    def checked(instance: Instance) -> _T:
        password = click.prompt(f"{username}'s password", hide_input=True)
        code = click.prompt(f"{username}'s current authenticator code")
        return work(instance, authenticate_admin(instance, username, password, code))

    return _with_instance(ctx, checked)


_AS = click.option("--as", "admin_name", required=True, metavar="ADMIN",
                   help="The administrator acting (asked for their password and current code).")


@user.command("reset-factor")
@click.argument("username")
@_AS
@click.option("--reason", required=True, help="Why (kept with the request).")
@click.pass_context
def user_reset_factor(ctx: click.Context, username: str, admin_name: str, reason: str) -> None:
    """Ask for an account's second factor to be reset; a different admin must confirm."""
    _as_admin(ctx, admin_name, lambda instance, admin: request_factor_reset(
        instance, username, reason, by=admin))
    click.echo(f"reset of {username}'s second factor asked for by {admin_name}; nothing "
               "changes until a different administrator runs confirm-reset")


@user.command("confirm-reset")
@click.argument("username")
@_AS
@click.pass_context
def user_confirm_reset(ctx: click.Context, username: str, admin_name: str) -> None:
    """Confirm a waiting second-factor reset (not the admin who asked): the factor goes."""
    ended = _as_admin(ctx, admin_name, lambda instance, admin: confirm_factor_reset(
        instance, username, by=admin))
    click.echo(f"{username}'s second factor removed; {ended} session(s) ended; they set up a "
               "new one at their next sign-in with their password")


@user.command("cancel-reset")
@click.argument("username")
@_AS
@click.pass_context
def user_cancel_reset(ctx: click.Context, username: str, admin_name: str) -> None:
    """Cancel a waiting second-factor reset: the factor stays."""
    _as_admin(ctx, admin_name, lambda instance, admin: cancel_factor_reset(
        instance, username, by=admin))
    click.echo(f"reset of {username}'s second factor cancelled")


#: Nothing new at the top level: these commands live in the ``user`` group.
commands: list[click.Command] = []
