"""``safereport witness ...``: an outside party that checks a log's growth and cosigns it.

The witness needs no instance: its state (its key, the last checkpoint cosigned per log,
refusals) lives in ``--state DIR``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from safereport.ledger.notes import b64decode
from safereport.ledger.witness import REFUSALS_MAX_BYTES, Witness, WitnessRefusal

__all__ = ["commands"]

_STATE = click.option(
    "--state",
    "state",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    envvar="SAFEREPORT_WITNESS_STATE",
    help="The witness's own state directory (or SAFEREPORT_WITNESS_STATE).",
)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}") from exc


@click.group()
def witness() -> None:
    """Witness a log: keep its last checkpoint, check consistency, cosign."""


@witness.command("init")
@_STATE
@click.option("--name", required=True, help="The witness's key name, e.g. witness.example.org.")
@click.option(
    "--log",
    "logs",
    multiple=True,
    help="The verifier key of a log to watch (as `witness trust`). Repeatable.",
)
def init_command(state: Path, name: str, logs: tuple[str, ...]) -> None:
    """Make the witness's cosigning key in the state directory; prints its vkey."""
    made = Witness.create(state, name)
    for vkey in logs:
        click.echo(f"watching {made.trust(vkey)}", err=True)
    click.echo(made.vkey)


@witness.command()
@_STATE
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8010, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--refusals-max-mb",
    default=REFUSALS_MAX_BYTES // (1024 * 1024),
    show_default=True,
    type=click.IntRange(1, 1024 * 1024),
    help="Cap on the record of refused requests (the newest are kept; fork evidence always).",
)
def serve(state: Path, host: str, port: int, refusals_max_mb: int) -> None:
    """Serve C2SP tlog-witness `add-checkpoint` over HTTP at /add-checkpoint."""
    import uvicorn

    from safereport.web.witness import create_witness_app

    app = create_witness_app(Witness(state, refusals_max_bytes=refusals_max_mb * 1024 * 1024))
    click.echo(f"witness serving on http://{host}:{port}/add-checkpoint", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)


@witness.command()
@_STATE
def key(state: Path) -> None:
    """Print the witness's verifier key (cosignature/v1, type 0x04)."""
    click.echo(Witness(state).vkey)


@witness.command()
@_STATE
@click.argument("vkey")
def trust(state: Path, vkey: str) -> None:
    """Start watching the log whose verifier key is VKEY."""
    origin = Witness(state).trust(vkey)
    click.echo(f"watching {origin}")


@witness.command()
@_STATE
@click.argument("checkpoint", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--proof",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Consistency proof from the last cosigned size (`ledger consistency OLD NEW`).",
)
def cosign(state: Path, checkpoint: Path, proof: Path | None) -> None:
    """Check CHECKPOINT against the last one seen and print it cosigned. Exit 1 if refused."""
    hashes = []
    if proof is not None:
        lines = [line.strip() for line in _read(proof).splitlines() if line.strip()]
        hashes = [b64decode(line, "a consistency proof hash") for line in lines]
    try:
        cosigned = Witness(state).cosign(_read(checkpoint), hashes)
    except WitnessRefusal as exc:
        click.echo(f"REFUSED: {exc}", err=True)
        sys.exit(1)
    click.echo(cosigned, nl=False)


@witness.command()
@_STATE
@click.argument("origin")
def last(state: Path, origin: str) -> None:
    """Print the last checkpoint cosigned for ORIGIN."""
    note = Witness(state).last(origin)
    if note is None:
        click.echo(f"no checkpoint cosigned yet for {origin}", err=True)
        sys.exit(1)
    click.echo(note, nl=False)


@witness.command()
@_STATE
@click.option(
    "--evidence",
    is_flag=True,
    help="Only the refusals that may prove a fork (kept once per checkpoint, never rotated).",
)
def refusals(state: Path, evidence: bool) -> None:
    """Print the refusals on record, oldest first, one JSON object per line."""
    witness_ = Witness(state)
    for item in witness_.evidence() if evidence else witness_.refusals():
        click.echo(json.dumps(item, sort_keys=True))


commands: list[click.Command] = [witness]
