"""``safereport ledger ...``: checkpoints, keys, entries, proofs, verification and tiles."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from safereport.errors import LedgerError
from safereport.ledger.audit import LedgerTampered
from safereport.ledger.log import Ledger
from safereport.ledger.notes import b64encode
from safereport.ledger.publish import pad_tick, published_checkpoint
from safereport.ledger.record import parse_leaf
from safereport.ledger.tiles import write_tiles
from safereport.ledger.verifier import (
    TlogProof,
    TrustPolicy,
    check_proof,
    format_proof,
    parse_policy,
    parse_proof,
)
from safereport.ledger.witness_client import (
    Outcome,
    WitnessClient,
    client_for,
    cosigned_proof,
    parse_witnesses,
)
from safereport.services.instance import open_instance
from safereport.store.witnesses import statuses

__all__ = ["commands"]


def _ledger(ctx: click.Context) -> Ledger:
    instance = open_instance(Path(ctx.obj["data_dir"]))
    ctx.call_on_close(instance.close)
    return instance.ledger


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}") from exc


@click.group()
def ledger() -> None:
    """The tamper-evident log of every access decision."""


@ledger.command()
@click.option("--new", is_flag=True, help="Sign a checkpoint for the log's current size now.")
@click.pass_context
def checkpoint(ctx: click.Context, new: bool) -> None:
    """Print the latest signed checkpoint (C2SP tlog-checkpoint, a signed note)."""
    click.echo(_ledger(ctx).checkpoint(new=new), nl=False)


@ledger.command()
@click.pass_context
def key(ctx: click.Context) -> None:
    """Print the log's verifier key (C2SP vkey)."""
    click.echo(_ledger(ctx).verifier_key())


@ledger.command()
@click.argument("index", type=click.IntRange(min=0))
@click.option("--raw", is_flag=True, help="The exact bytes hashed into the tree as the leaf.")
@click.pass_context
def entry(ctx: click.Context, index: int, raw: bool) -> None:
    """Print entry INDEX (private: run it on the instance only)."""
    leaf = _ledger(ctx).entry(index)
    if raw:
        sys.stdout.buffer.write(leaf)
        sys.stdout.buffer.flush()
        return
    click.echo(json.dumps({"index": index, "record": parse_leaf(leaf)}, indent=2))


@ledger.command()
@click.argument("index", type=click.IntRange(min=0))
@click.option("--with-entry", is_flag=True,
              help="Carry the entry in the proof (its extra line), as her receipt does: one file "
                   "the offline verifier checks alone (the entry is private: give it only to "
                   "whom it concerns).")
@click.pass_context
def proof(ctx: click.Context, index: int, with_entry: bool) -> None:
    """Print a C2SP tlog-proof that entry INDEX is in the log, with witnesses' cosignatures."""
    log = _ledger(ctx)
    text = cosigned_proof(log, index)
    if with_entry:
        parsed = parse_proof(text)
        text = format_proof(TlogProof(parsed.index, parsed.hashes, parsed.checkpoint_note,
                                      extra=log.entry(index)))
    click.echo(text, nl=False)


@ledger.command()
@click.argument("old", type=click.IntRange(min=1))
@click.argument("new", type=click.IntRange(min=1))
@click.pass_context
def consistency(ctx: click.Context, old: int, new: int) -> None:
    """Print the consistency proof from tree size OLD to NEW, one base64 hash per line."""
    for value in _ledger(ctx).consistency(old, new):
        click.echo(b64encode(value))


@ledger.command()
@click.option(
    "--against",
    "against",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A checkpoint kept outside the database (e.g. one a witness cosigned). Repeatable.",
)
@click.pass_context
def verify(ctx: click.Context, against: tuple[Path, ...]) -> None:
    """Recompute the tree from the stored entries and check every checkpoint. Exit 1 if bad."""
    external = [(f"checkpoint file {path}", _read_text(path)) for path in against]
    try:
        report = _ledger(ctx).verify(external)
    except LedgerTampered as exc:
        click.echo(f"ledger verification FAILED: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"ok: {report.size} entries, {report.checkpoints} checkpoint(s) checked, "
        f"root {b64encode(report.root)}"
    )


@ledger.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def tiles(ctx: click.Context, directory: Path) -> None:
    """Write C2SP tlog-tiles hash tiles and the checkpoint to DIRECTORY (never entries)."""
    instance = open_instance(Path(ctx.obj["data_dir"]))
    ctx.call_on_close(instance.close)
    log = instance.ledger
    note = log.checkpoint(new=True)
    with log.engine.connect() as conn:
        if not instance.publishing.plain:  # a quorum or padding: only what may be published
            shown = published_checkpoint(conn, instance.publishing)
            if shown is None:
                click.echo("no checkpoint meets the publication rule yet (witness quorum)",
                           err=True)
                sys.exit(1)
            note = shown.note
        count = write_tiles(conn, note, directory)
    click.echo(f"wrote {count} tiles and the checkpoint to {directory}")


@ledger.command("pad")
@click.pass_context
def pad(ctx: click.Context) -> None:
    """One padding tick: pad the log to its next published size and sign a checkpoint there.

    Only with padding on (setting pad_seconds); a running server ticks by itself. Does nothing
    if a tick ran less than half a cadence ago. Prints the size now published.
    """
    instance = open_instance(Path(ctx.obj["data_dir"]))
    ctx.call_on_close(instance.close)
    if not instance.publishing.padded:
        click.echo("padding is off (setting `pad_seconds` in config.toml)", err=True)
        sys.exit(1)
    size = pad_tick(instance.ledger, instance.publishing)
    if size is None:
        click.echo("a tick ran less than half a cadence ago: nothing to do")
    else:
        click.echo(f"padded and signed at size {size}")


@ledger.command("witness-sync")
@click.pass_context
def witness_sync(ctx: click.Context) -> None:
    """Sign a checkpoint if the log grew and ask every witness to cosign it. Exit 1 if one did not.

    For a scheduler (cron, a systemd timer); the running instance also asks after each
    checkpoint it signs, in the background.
    """
    instance = open_instance(Path(ctx.obj["data_dir"]))
    ctx.call_on_close(instance.close)
    endpoints = parse_witnesses(instance.settings.witnesses)
    if not endpoints:
        click.echo("no witnesses configured (setting `witnesses` in config.toml)", err=True)
        sys.exit(1)
    log = instance.ledger
    client = client_for(log) or WitnessClient(log, endpoints, padded=instance.publishing.padded)
    note = log.checkpoint(new=True)
    results = client.sync(None if client.padded else note)  # padded: the last tick's
    if not results:
        click.echo("nothing published to cosign yet (padding on: no tick yet)", err=True)
        sys.exit(1)
    for result in results:
        detail = f": {result.detail}" if result.detail else ""
        click.echo(f"{result.witness} {result.outcome.value} size {result.size}{detail}")
    if any(r.outcome not in (Outcome.COSIGNED, Outcome.SKIPPED) for r in results):
        sys.exit(1)


@ledger.command()
@click.pass_context
def policy(ctx: click.Context) -> None:
    """Print a trust policy for this log: its key, its configured witnesses, quorum all."""
    instance = open_instance(Path(ctx.obj["data_dir"]))
    ctx.call_on_close(instance.close)
    endpoints = parse_witnesses(instance.settings.witnesses)
    keys = tuple(endpoint.verifier.vkey for endpoint in endpoints)
    trust = TrustPolicy(instance.ledger.verifier_key(), keys, len(keys))
    click.echo(trust.render([endpoint.url for endpoint in endpoints]), nl=False)


@ledger.command()
@click.pass_context
def witnesses(ctx: click.Context) -> None:
    """Show each witness: the size it last cosigned, its last error, any incident. Exit 1 on one."""
    instance = open_instance(Path(ctx.obj["data_dir"]))
    ctx.call_on_close(instance.close)
    configured = parse_witnesses(instance.settings.witnesses)
    with instance.engine.connect() as conn:
        known = {status.witness: status for status in statuses(conn)}
    names = [endpoint.key for endpoint in configured] + sorted(
        set(known) - {endpoint.key for endpoint in configured}
    )
    if not names:
        click.echo("no witnesses configured (setting `witnesses` in config.toml)")
    for name in names:
        status = known.get(name)
        click.echo(name)
        if status is None:
            click.echo("  not asked yet")
            continue
        click.echo(f"  url            {status.url}")
        click.echo(f"  last cosigned  size {status.size} at {status.ok_at}")
        click.echo(f"  last asked     {status.tried_at}  error: {status.error or 'none'}")
        if status.incident:
            click.echo(f"  INCIDENT       {status.incident_at}: {status.incident}")
    if any(status.incident for status in known.values()):
        sys.exit(1)


@ledger.command("check-proof")
@click.argument("proof_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--key", "vkey", default=None, help="The log's vkey, or a file holding it.")
@click.option(
    "--policy",
    "policy_file",
    default=None,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A trust policy file (log key, witness keys, quorum) instead of --key/--witness.",
)
@click.option(
    "--witness",
    "witness_keys",
    multiple=True,
    help="A witness's vkey (cosignature/v1), or a file holding one per line. Repeatable.",
)
@click.option(
    "--quorum",
    type=click.IntRange(min=0),
    default=None,
    help="How many of the --witness keys must have cosigned (default: all of them).",
)
@click.option(
    "--entry",
    "entry_file",
    default=None,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The entry's exact leaf bytes (from `ledger entry N --raw`). Without it, the entry "
    "carried on the proof's `extra` line (as in a victim's receipt) is checked.",
)
def check_proof_command(
    proof_file: Path,
    vkey: str | None,
    policy_file: Path | None,
    witness_keys: tuple[str, ...],
    quorum: int | None,
    entry_file: Path | None,
) -> None:
    """Verify a tlog-proof offline, with no database. Exit 1 if it does not verify."""
    log_key, keys, required = _trust(vkey, policy_file, witness_keys, quorum)
    proof_text = _read_text(proof_file)
    try:
        if entry_file is not None:
            leaf = entry_file.read_bytes()
        else:
            carried = parse_proof(proof_text).extra
            if carried is None:
                raise LedgerError("the proof carries no entry: give it with --entry LEAF_FILE")
            leaf = carried
        checkpoint_ = check_proof(proof_text, log_key, leaf, witnesses=keys, quorum=required)
    except LedgerError as exc:
        click.echo(f"proof does NOT verify: {exc}", err=True)
        sys.exit(1)
    cosigned = f", cosigned by at least {required} of {len(keys)} witnesses" if keys else ""
    click.echo(
        f"ok: the entry is in {checkpoint_.origin} (tree size {checkpoint_.size}), "
        f"signed by that log's key{cosigned}"
    )


def _trust(
    vkey: str | None, policy_file: Path | None, witness_keys: tuple[str, ...], quorum: int | None
) -> tuple[str, list[str], int]:
    """(log key, witness keys, quorum) from --policy, or from --key/--witness/--quorum."""
    if policy_file is not None and vkey is None:
        try:
            trust = parse_policy(_read_text(policy_file))
        except LedgerError as exc:
            raise click.BadParameter(str(exc), param_hint="--policy") from exc
        return trust.log, list(trust.witnesses), trust.quorum
    if vkey is None or policy_file is not None:
        raise click.UsageError("give the log's key with --key, or a trust policy with --policy")
    if Path(vkey).is_file():
        vkey = _read_text(Path(vkey)).strip()
    keys = [line for given in witness_keys for line in _keys_in(given)]
    return vkey, keys, len(keys) if quorum is None else quorum


def _keys_in(given: str) -> list[str]:
    """A vkey, or the vkeys in a file (one per line)."""
    path = Path(given)
    if path.is_file():
        return [line.strip() for line in _read_text(path).splitlines() if line.strip()]
    return [given.strip()]


commands: list[click.Command] = [ledger]
