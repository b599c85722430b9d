"""The ``safereport`` command. Each command parses its input, calls one service, and prints.

Every command acts on the instance named by ``--data-dir`` or ``SAFEREPORT_DATA_DIR``.
Errors of the package's own kinds become one clear line on stderr and a non-zero exit.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from safereport import __version__
from safereport.errors import SafeReportError

__all__ = ["main"]

#: Modules under ``safereport.cli`` that each define ``commands: list[click.Command]``.
_COMMAND_MODULES = (
    "api",
    "backup",
    "foi",
    "instance",
    "jobs",
    "keys",
    "ledger",
    "notices",
    "policy",
    "quarantine",
    "report",
    "stats",
    "users",
    "witness",
)


class _Root(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SafeReportError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="safereport")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="SAFEREPORT_DATA_DIR",
    default=Path("./safereport-data"),
    show_default=True,
    help="The instance's data directory (or SAFEREPORT_DATA_DIR).",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path) -> None:
    """safereport: safe reporting for migrant victims, with a provable data firewall."""
    ctx.ensure_object(dict)
    ctx.obj["data_dir"] = data_dir


for _name in _COMMAND_MODULES:
    _module = importlib.import_module(f"safereport.cli.{_name}")
    for _command in _module.commands:
        main.add_command(_command)
