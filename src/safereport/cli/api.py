"""``safereport api token add|list|revoke``: tokens for the integration API (docs/api.md)."""

from __future__ import annotations

from pathlib import Path

import click

from safereport.services.instance import open_instance
from safereport.services.integrations import (
    DEFAULT_RATE_PER_MINUTE,
    INTEGRATION_ROLES,
    Scope,
    add_token,
    list_tokens,
    revoke_token,
)

__all__ = ["commands"]


def _data_dir(ctx: click.Context) -> Path:
    return Path(ctx.find_root().obj["data_dir"])


@click.group()
def api() -> None:
    """The integration API for police systems and third-party reporting centres."""


@api.group()
def token() -> None:
    """Tokens of the integration API: one per integration, scoped and revocable."""


@token.command("add")
@click.argument("name")
@click.option("--org", required=True, help="The organisation it acts for (name or id).")
@click.option("--role", required=True, type=click.Choice([r.value for r in INTEGRATION_ROLES]),
              help="The role it acts in (police_system for a force's systems).")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice([s.value for s in Scope]),
              help="An operation it may call. Repeatable.")
@click.option("--rate", type=click.IntRange(1, 6000), default=DEFAULT_RATE_PER_MINUTE,
              show_default=True, help="Calls a minute it may make.")
@click.pass_context
def token_add(ctx: click.Context, name: str, org: str, role: str, scopes: tuple[str, ...],
              rate: int) -> None:
    """Make a token NAME and print its secret once (only its hash is kept)."""
    instance = open_instance(_data_dir(ctx))
    try:
        info, secret = add_token(instance, name=name, org=org, role=role, scopes=scopes,
                                 rate_per_minute=rate)
    finally:
        instance.close()
    click.echo(f"token {info.name} for {info.org_name} as {info.role}: "
               f"{' '.join(info.scopes)}; {info.rate_per_minute} calls a minute")
    click.echo("the secret, shown only now (give it to the integration over a safe channel):",
               err=True)
    click.echo(secret)


@token.command("list")
@click.pass_context
def token_list(ctx: click.Context) -> None:
    """List tokens: name, organisation, role, scopes, rate, state, last use (no secrets)."""
    instance = open_instance(_data_dir(ctx))
    try:
        tokens = list_tokens(instance)
    finally:
        instance.close()
    for t in tokens:
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
        used = f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
        click.echo(f"{t.name}\t{t.org_name}\t{t.role}\t{' '.join(t.scopes)}\t"
                   f"{t.rate_per_minute}/min\t{state}\t{used}")


@token.command("revoke")
@click.argument("name")
@click.pass_context
def token_revoke(ctx: click.Context, name: str) -> None:
    """Revoke token NAME: every call with it is refused from now on."""
    instance = open_instance(_data_dir(ctx))
    try:
        changed = revoke_token(instance, name)
    finally:
        instance.close()
    click.echo(f"{name} {'revoked' if changed else 'was already revoked'}")


commands: list[click.Command] = [api]
