"""Commands that make, serve and look after an instance: init, serve, demo, db, user."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from safereport.domain.vocabulary import ActorRole, OrgKind, Regime
from safereport.errors import InvalidInput
from safereport.services.instance import open_instance

__all__ = ["commands"]


def _data_dir(ctx: click.Context) -> Path:
    return Path(ctx.obj["data_dir"])


@click.command()
@click.option("--regime", default=Regime.FIREWALL.value, show_default=True,
              help="The firewall regime: a built-in name or a folder of .cedar files.")
@click.option("--origin", default=None, help="The log origin (default safereport.local/<id>).")
@click.option("--data-dir", "data_dir_opt", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Where to create the instance (overrides the global option).")
@click.pass_context
def init(ctx: click.Context, regime: str, origin: str | None, data_dir_opt: Path | None) -> None:
    """Create a new instance: configuration, keys and database. Never overwrites one."""
    import os

    from safereport.services.setup import init_instance

    target = data_dir_opt or _data_dir(ctx)
    path = init_instance(
        target, regime=regime, origin=origin,
        database_url=os.environ.get("SAFEREPORT_DATABASE_URL") or None,
    )
    click.echo(f"created a safereport instance in {path}")
    click.echo("keep the keys/ folder secret and backed up: without it the data cannot be read")


def _serving_app(data_dir: Path, *, scheduler: bool = False) -> Any:
    """Open the instance and build its app; the ledger's sequencer starts at once, and with
    ``scheduler`` this process's runner of scheduled work (one leads per database)."""
    from safereport.web.app import create_app, settled

    instance = open_instance(data_dir)
    _ = instance.vault, instance.ledger, instance.guard  # fail now, not on the first request
    instance.ledger.sequencer.start()  # writes get their checkpoint without waiting for a read
    if instance.publishing.padded:  # published sizes on a fixed cadence (docs/ledger.md)
        from safereport.ledger.publish import Padder

        Padder(instance.ledger, instance.publishing).start()
    if scheduler:
        from safereport.services.scheduler import start_scheduler

        start_scheduler(instance)
    return settled(create_app(instance))


def worker_app() -> Any:
    """The app of one ``serve --workers N`` process (uvicorn calls this in each worker)."""
    return _serving_app(Path(os.environ[_WORKER_DATA_DIR]), scheduler=True)


_WORKER_DATA_DIR = "SAFEREPORT_DATA_DIR"


@click.command()
@click.option("--host", default=None, help="Address to listen on (default from config: 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Port (default 8000).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (on SQLite and PostgreSQL; see README, PostgreSQL "
                   "deployment, and docs/deployment.md).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int) -> None:
    """Serve the instance's web pages and API."""
    import uvicorn

    data_dir = _data_dir(ctx).expanduser().resolve()
    # a clear error now, not on the first request; with several workers, each runs its own
    app = _serving_app(data_dir, scheduler=workers == 1)
    settings = app.state.instance.settings
    bind_host = host or settings.host
    bind_port = port or settings.port
    click.echo(f"serving on http://{bind_host}:{bind_port}/"
               + (f" with {workers} worker processes" if workers > 1 else "")
               + f" ({app.state.request_threads} request threads"
               + (" each)" if workers > 1 else ")"))
    # proxy_headers off: forwarding headers are believed only from the configured
    # trusted_proxies, by the app itself (web/security.py), never by uvicorn's default.
    options: dict[str, Any] = {"host": bind_host, "port": bind_port, "log_level": "warning",
                               "server_header": False, "proxy_headers": False}
    if workers == 1:
        uvicorn.run(app, **options)
        return
    app.state.instance.close()  # each worker process opens the instance itself
    os.environ[_WORKER_DATA_DIR] = str(data_dir)
    uvicorn.run("safereport.cli.instance:worker_app", factory=True, workers=workers, **options)


@click.command()
@click.option("--seed", default=2026, show_default=True, help="Seed of the synthetic data.")
@click.option("--cases", default=300, show_default=True, type=click.IntRange(1, 10_000_000),
              help="How many synthetic cases.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-serve", is_flag=True, help="Build the demo instance, print it, and stop.")
@click.option("--keep", is_flag=True, help="Build it in --data-dir and keep it (else a temp dir).")
@click.pass_context
def demo(ctx: click.Context, seed: int, cases: int, port: int, no_serve: bool, keep: bool) -> None:
    """A throwaway instance full of synthetic data, served on 127.0.0.1."""
    from safereport.services.setup import init_instance
    from safereport.services.synthetic import populate_demo

    if keep:
        target = _data_dir(ctx)
    else:
        target = Path(tempfile.mkdtemp(prefix="safereport-demo-")) / "instance"
    init_instance(target)
    instance = open_instance(target)
    sign_ins = populate_demo(instance, seed=seed, cases=cases)
    click.echo(f"demo instance: {target}")
    click.echo("demo sign-ins (synthetic people; password for all below):")
    for line in sign_ins:
        click.echo(f"  {line}")
    if no_serve:
        instance.close()
        return
    import uvicorn

    from safereport.web.app import create_app, settled

    click.echo(f"serving the demo on http://127.0.0.1:{port}/  (Ctrl-C to stop)")
    uvicorn.run(settled(create_app(instance)), host="127.0.0.1", port=port, log_level="warning",
                server_header=False, proxy_headers=False)


@click.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Bring the schema up to date (safe to repeat)."""
    from safereport.store.migrate import current_revision, upgrade

    instance = open_instance(_data_dir(ctx.find_root()))
    upgrade(instance.engine)
    click.echo(f"schema at {current_revision(instance.engine)}")


@db.command("current")
@click.pass_context
def db_current(ctx: click.Context) -> None:
    """Print the schema version of the database and of this build."""
    from safereport.store.migrate import current_revision, head_revision

    instance = open_instance(_data_dir(ctx.find_root()))
    current = current_revision(instance.engine)
    head = head_revision()
    click.echo(f"database: {current or 'empty'}")
    click.echo(f"this build: {head}")
    if current != head:
        click.echo("run `safereport db upgrade`", err=True)
        sys.exit(1)


@click.group()
def org() -> None:
    """Organisations: the support services and police forces that hold cases, and recipients."""


@org.command("add")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice([k.value for k in OrgKind]),
              help="support_service or police hold cases; the others receive disclosures.")
@click.pass_context
def org_add(ctx: click.Context, name: str, kind: str) -> None:
    """Add an organisation."""
    from safereport.services.users import add_org

    instance = open_instance(_data_dir(ctx.find_root()))
    try:
        with instance.engine.begin() as conn:
            org_id = add_org(conn, name.strip(), OrgKind(kind))
    finally:
        instance.close()
    click.echo(f"added {name.strip()} ({kind}) as {org_id}")


@org.command("list")
@click.pass_context
def org_list(ctx: click.Context) -> None:
    """List the organisations: id, kind, name."""
    from safereport.services.users import list_orgs

    instance = open_instance(_data_dir(ctx.find_root()))
    try:
        for org_id, kind, name in list_orgs(instance):
            click.echo(f"{org_id}\t{kind}\t{name}")
    finally:
        instance.close()


@org.command("reply-time")
@click.argument("name")
@click.option("--working-days", type=int, default=None,
              help="Within how many working days the service usually answers a victim (1-30).")
@click.option("--unset", is_flag=True, help="Promise no time: her pages say no number.")
@click.pass_context
def org_reply_time(ctx: click.Context, name: str, working_days: int | None, unset: bool) -> None:
    """Set when a support service answers: shown on her pages, in her language."""
    from safereport.services.replies import set_reply_time

    if unset == (working_days is not None):
        raise click.UsageError("give either --working-days N or --unset")
    instance = open_instance(_data_dir(ctx.find_root()))
    try:
        shown = set_reply_time(instance, name.strip(), working_days)
    finally:
        instance.close()
    if working_days is None:
        click.echo(f"{shown}: no reply time (her pages promise no time)")
    else:
        click.echo(f"{shown}: answers within {working_days} working day(s)")


@click.group()
def user() -> None:
    """Staff accounts."""


@user.command("add")
@click.option("--org", "org_name", required=True, help="Name of the staff member's organisation.")
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True, help="Display name.")
@click.option("--role", required=True,
              type=click.Choice([r.value for r in ActorRole if r is not ActorRole.VICTIM]))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def user_add(ctx: click.Context, org_name: str, username: str, display_name: str, role: str,
             password_stdin: bool) -> None:
    """Add a staff account (prompts for the password)."""
    from safereport.services.users import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    if len(password) < 12:
        raise InvalidInput("the password must have at least 12 characters")
    instance = open_instance(_data_dir(ctx.find_root()))
    user_id = add_user(instance, org_name=org_name, username=username,
                       display_name=display_name, role=ActorRole(role), password=password)
    click.echo(f"added {username} ({role}) as {user_id}")


commands: list[click.Command] = [init, serve, demo, db, org, user]
