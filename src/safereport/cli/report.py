"""Commands: ``safereport report submit|schema|erase-due|claim-code``.

``submit`` runs the same intake service as the web form, for third-party bulk import and
tests. Every item in the file is validated before anything is saved, so a bad file saves
nothing; each valid report is then saved in its own transaction.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from safereport.domain.vocabulary import ActorRole
from safereport.errors import InvalidInput
from safereport.services.access import Actor, record_failure
from safereport.services.claim import ClaimCodeRefused, issue_claim_code
from safereport.services.erasure import complete_due_erasures
from safereport.services.instance import Instance, open_instance
from safereport.services.intake import (
    SUBMISSION_SCHEMA,
    InvalidReport,
    ReportSubmission,
    parse_submission,
    submit_report,
)
from safereport.store.core import cases
from safereport.store.provenance import FactSource

__all__ = ["commands", "report"]

#: The operator at the command line, as the ledger names them.
OPERATOR = Actor(id="operator:cli", role=ActorRole.ADMIN)


def _instance(ctx: click.Context) -> Instance:
    return open_instance(ctx.obj["data_dir"])


def _load(path: Path) -> list[Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    items = data if isinstance(data, list) else [data]
    if not items:
        raise InvalidInput(f"{path} holds no reports")
    return items


def _validate(items: list[Any]) -> list[ReportSubmission]:
    parsed, faults = [], []
    for position, item in enumerate(items):
        try:
            parsed.append(parse_submission(item))
        except InvalidReport as exc:
            listed = ", ".join(f"{k}: {v.value}" for k, v in exc.problems.items())
            faults.append(f"report {position}: {listed}")
    if faults:
        raise InvalidInput("nothing was saved; " + "; ".join(faults))
    return parsed


@click.group()
def report() -> None:
    """Reports from victims and witnesses: import, schema, erasure."""


@report.command("submit")
@click.option("--json", "json_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="A report, or a list of reports, in the shape `report schema` prints.")
@click.pass_context
def submit(ctx: click.Context, json_file: Path) -> None:
    """Save reports from FILE; print each case reference (and codename, when asked for).

    One line per report: the reference, then a tab and the codename for mode "codename".
    """
    submissions = _validate(_load(json_file))
    instance = _instance(ctx)
    try:
        for submission in submissions:
            receipt = submit_report(instance, submission, door=FactSource.IMPORT)
            line = receipt.reference
            if receipt.codename:
                line += "\t" + receipt.codename
            click.echo(line)
    finally:
        instance.close()


@report.command("schema")
def schema() -> None:
    """Print the JSON Schema of the file `report submit --json` reads."""
    json.dump(SUBMISSION_SCHEMA, sys.stdout, indent=2, ensure_ascii=False)
    click.echo()


@report.command("erase-due")
@click.pass_context
def erase_due(ctx: click.Context) -> None:
    """Crypto-shred every case whose erasure cooling-off period has passed (run from cron)."""
    instance = _instance(ctx)
    try:
        count = complete_due_erasures(instance)
    finally:
        instance.close()
    click.echo(f"{count} case(s) erased")


@report.command("claim-code")
@click.argument("reference")
@click.pass_context
def claim_code(ctx: click.Context, reference: str) -> None:
    """Make a one-time claim code for an unclaimed third-party report.

    A new code replaces an earlier one that was never used; a report once claimed never gets
    a new code (her door stays hers), and that refusal is a denial in the ledger.
    """
    instance = _instance(ctx)
    try:
        with instance.engine.begin() as conn:
            case_id = conn.execute(
                select(cases.c.id).where(cases.c.reference == reference.strip().upper())
            ).scalar()
            if case_id is None:
                raise InvalidInput(f"no case with reference {reference}")
        try:
            code = issue_claim_code(instance, str(case_id))
        except ClaimCodeRefused:
            record_failure(instance, OPERATOR, str(case_id), None, "claim_code_refused",
                           detail={"event": "claim_code"})
            raise
    finally:
        instance.close()
    click.echo(code)


commands: list[click.Command] = [report]
