"""Commands: ``safereport foi ...``: FOI due dates and the campaign's requests to police forces."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from safereport.errors import InvalidInput
from safereport.services.instance import open_instance
from safereport.stats import tracker
from safereport.stats.bankholidays import Jurisdiction, bank_holidays
from safereport.stats.foi import Classification, due_date
from safereport.stats.forces import load_forces

commands: list[click.Command] = []


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{value!r} is not a date (YYYY-MM-DD)") from exc


@click.group("foi")
def foi() -> None:
    """Freedom of Information: due dates, and the campaign's requests to police forces."""


@foi.command("due")
@click.argument("received")
@click.option(
    "--jurisdiction",
    type=click.Choice([j.value for j in Jurisdiction]),
    default=Jurisdiction.ENGLAND_WALES.value,
    show_default=True,
    help="Whose bank holidays to skip.",
)
@click.option("--explain", is_flag=True, help="Also list the bank holidays skipped.")
def due(received: str, jurisdiction: str, explain: bool) -> None:
    """Print the due date (20th working day) of a request received on RECEIVED (YYYY-MM-DD)."""
    where = Jurisdiction(jurisdiction)
    day = _day(received)
    answer = due_date(day, where)
    click.echo(answer.isoformat())
    if explain:
        for year in range(day.year, answer.year + 1):
            for holiday, name in bank_holidays(year, where).items():
                if day < holiday <= answer:
                    click.echo(f"  skipped {holiday.isoformat()} {name}")


@foi.command("forces")
def forces() -> None:
    """List the police forces and the FOI jurisdiction of each."""
    for force in load_forces():
        click.echo(f"{force.id}\t{force.jurisdiction.value}\t{force.name}")


@foi.command("round")
@click.argument("name")
@click.option("--question", required=True, help="The question every force is asked.")
@click.pass_context
def new_round(ctx: click.Context, name: str, question: str) -> None:
    """Start a round of FOI requests called NAME."""
    instance = open_instance(ctx.obj["data_dir"])
    try:
        tracker.create_round(instance.engine, name, question)
    finally:
        instance.close()
    click.echo(f"round {name!r} created")


@foi.command("rounds")
@click.option("--today", help="Count overdue requests as of this date (default: today).")
@click.pass_context
def rounds(ctx: click.Context, today: str | None) -> None:
    """Tally each round's answers, oldest first, to compare rounds over time."""
    instance = open_instance(ctx.obj["data_dir"])
    try:
        tallies = tracker.round_tallies(instance.engine, _day(today) if today else date.today())
    finally:
        instance.close()
    table = Table("round", "asked", *[label for label, _ in _labels()], title="FOI rounds")
    for tally in tallies:
        table.add_row(tally.name, str(tally.asked),
                      *[str(count) for _, count in tracker.tally_rows(tally)])
    Console().print(table)


def _labels() -> list[tuple[str, int]]:
    return [(c.label, 0) for c in Classification] + [("awaiting", 0), ("overdue", 0)]


@foi.command("send")
@click.argument("round_name")
@click.option("--force", "force_ids", multiple=True,
              help="A force id (repeatable; default: every force not yet asked in the round).")
@click.option("--date", "sent", required=True, help="The date the requests were sent.")
@click.pass_context
def send(ctx: click.Context, round_name: str, force_ids: tuple[str, ...], sent: str) -> None:
    """Record that ROUND_NAME's question was sent to forces; prints each due date."""
    instance = open_instance(ctx.obj["data_dir"])
    try:
        sent_requests = tracker.send_requests(
            instance.engine, round_name, force_ids or None, _day(sent)
        )
    finally:
        instance.close()
    for request in sent_requests:
        click.echo(f"{request.force_id}\tdue {request.due_on.isoformat()}")


@foi.command("answer")
@click.argument("round_name")
@click.argument("force_id")
@click.option("--classification", "kind", required=True,
              type=click.Choice([c.value for c in Classification]))
@click.option("--date", "answered", help="The date the answer arrived.")
@click.option("--text", "text", help="The answer's text.")
@click.option("--text-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Read the answer's text from a file.")
@click.pass_context
def answer(ctx: click.Context, round_name: str, force_id: str, kind: str, answered: str | None,
           text: str | None, text_file: Path | None) -> None:
    """Record FORCE_ID's answer in ROUND_NAME and how it is classified."""
    if text_file is not None:
        text = text_file.read_text(encoding="utf-8")
    instance = open_instance(ctx.obj["data_dir"])
    try:
        tracker.record_answer(instance.engine, round_name, force_id,
                              classification=Classification(kind),
                              answered_on=_day(answered) if answered else None, answer_text=text)
    finally:
        instance.close()
    click.echo(f"{force_id}: {Classification(kind).label}")


@foi.command("list")
@click.argument("round_name", required=False)
@click.option("--overdue", is_flag=True, help="Only requests past their due date, unanswered.")
@click.option("--today", help="The date to judge overdue by (default: today).")
@click.pass_context
def list_(ctx: click.Context, round_name: str | None, overdue: bool, today: str | None) -> None:
    """List requests (of one round, or all), with status; --overdue for reminders."""
    as_of = _day(today) if today else date.today()
    instance = open_instance(ctx.obj["data_dir"])
    try:
        if overdue:
            found = tracker.overdue_requests(instance.engine, as_of)
        else:
            found = tracker.list_requests(instance.engine, round_name)
    finally:
        instance.close()
    for r in found:
        if round_name and r.round_name != round_name:
            continue
        kind = r.classification.label if r.classification else "-"
        click.echo(f"{r.round_name}\t{r.force_id}\tsent {r.sent_on}\tdue {r.due_on}\t"
                   f"{r.status(as_of).value}\t{kind}")
    if overdue and found:
        click.echo(f"{len(found)} request(s) overdue: send a reminder", err=True)


@foi.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def export(ctx: click.Context, path: Path) -> None:
    """Write every round's requests to PATH as CSV ('-' for stdout)."""
    instance = open_instance(ctx.obj["data_dir"])
    try:
        text = tracker.export_csv(instance.engine)
    finally:
        instance.close()
    if str(path) == "-":
        click.echo(text, nl=False)
    else:
        path.write_text(text, encoding="utf-8")


@foi.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_(ctx: click.Context, path: Path) -> None:
    """Add or update requests from a CSV file (the export's columns); all or nothing."""
    instance = open_instance(ctx.obj["data_dir"])
    try:
        count = tracker.import_csv(instance.engine, path.read_text(encoding="utf-8-sig"))
    finally:
        instance.close()
    click.echo(f"{count} request(s) imported")


commands.append(foi)
