"""The police-forces tracker: the campaign's FOI rounds, one request per force, and tallies.

Each function is one use case and owns its transaction. Imports check every row before writing
any, so a bad file changes nothing.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from safereport.errors import InvalidInput
from safereport.stats.bankholidays import Jurisdiction
from safereport.stats.foi import Classification, due_date
from safereport.stats.forces import force_by_id, load_forces
from safereport.stats.labels import N_
from safereport.stats.spreadsheet import csv_text, restore
from safereport.store import foi as store

__all__ = [
    "CSV_COLUMNS",
    "FoiRequest",
    "RequestStatus",
    "RoundTally",
    "create_round",
    "export_csv",
    "import_csv",
    "list_requests",
    "overdue_requests",
    "record_answer",
    "round_tallies",
    "send_requests",
    "tally_rows",
]

CSV_COLUMNS = (
    "round",
    "round_question",
    "force_id",
    "question",
    "jurisdiction",
    "sent_on",
    "due_on",
    "answered_on",
    "classification",
    "answer_text",
)


#: The status words as the public page shows them (marked for its catalogs).
STATUS_WORDS = (N_("answered"), N_("awaiting"), N_("overdue"))


class RequestStatus(StrEnum):
    ANSWERED = "answered"
    AWAITING = "awaiting"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class FoiRequest:
    round_name: str
    force_id: str
    question: str
    jurisdiction: Jurisdiction
    sent_on: date
    due_on: date
    answered_on: date | None
    answer_text: str | None
    classification: Classification | None

    @property
    def force_name(self) -> str:
        return force_by_id(self.force_id).name

    def status(self, today: date) -> RequestStatus:
        if self.classification is not None or self.answered_on is not None:
            return RequestStatus.ANSWERED
        return RequestStatus.OVERDUE if today > self.due_on else RequestStatus.AWAITING


@dataclass(frozen=True)
class RoundTally:
    """One round's answers by classification; ``awaiting`` and ``overdue`` have none yet."""

    name: str
    question: str
    created_at: datetime
    asked: int
    counts: dict[Classification, int]
    awaiting: int
    overdue: int


def _now() -> datetime:
    return datetime.now(UTC)


def _clean(text: str, what: str, limit: int) -> str:
    value = text.strip()
    if not value:
        raise InvalidInput(f"the {what} is empty")
    if len(value) > limit:
        raise InvalidInput(f"the {what} is longer than {limit} characters")
    return value


def create_round(engine: Engine, name: str, question: str, *, now: datetime | None = None) -> int:
    """A new round of FOI requests, all asking ``question``."""
    name, question = _clean(name, "round name", 100), _clean(question, "question", 4000)
    with engine.begin() as conn:
        if store.round_by_name(conn, name) is not None:
            raise InvalidInput(f"a round named {name!r} exists already")
        return store.insert_round(conn, name=name, question=question, now=now or _now())


def _round(conn: Connection, name: str) -> store.RoundRow:
    row = store.round_by_name(conn, name)
    if row is None:
        raise InvalidInput(f"no FOI round named {name!r} (see `safereport foi rounds`)")
    return row


def send_requests(
    engine: Engine, round_name: str, force_ids: Iterable[str] | None, sent_on: date
) -> list[FoiRequest]:
    """Record that the round's question was sent on ``sent_on`` to these forces.

    ``None`` means every force not yet asked in this round; naming a force asked already is
    refused. Returns the requests recorded now.
    """
    every = force_ids is None
    forces = list(load_forces()) if force_ids is None else [force_by_id(f) for f in force_ids]
    with engine.begin() as conn:
        found = _round(conn, round_name)
        asked = {r.force_id for r in store.list_requests(conn, round_id=found.id)}
        for force in forces:
            if store.find_request(conn, found.id, force.id) is not None:
                if every:  # "all forces" means all not yet asked in this round
                    continue
                raise InvalidInput(f"{force.name} was already sent round {round_name!r}")
            store.insert_request(conn, {
                "round_id": found.id, "force_id": force.id, "question": found.question,
                "jurisdiction": force.jurisdiction.value, "sent_on": sent_on,
                "due_on": due_date(sent_on, force.jurisdiction), "updated_at": _now(),
            })
        rows = store.list_requests(conn, round_id=found.id)
        wanted = {force.id for force in forces} - asked
    return [_request(row) for row in rows if row.force_id in wanted]


def record_answer(
    engine: Engine,
    round_name: str,
    force_id: str,
    *,
    classification: Classification,
    answered_on: date | None = None,
    answer_text: str | None = None,
) -> FoiRequest:
    """Record a force's answer (or its silence, as ``no_answer``) and how we read it."""
    force = force_by_id(force_id)
    with engine.begin() as conn:
        found = _round(conn, round_name)
        row = store.find_request(conn, found.id, force.id)
        if row is None:
            raise InvalidInput(f"{force.name} was not sent round {round_name!r}")
        if answered_on is not None and answered_on < row.sent_on:
            raise InvalidInput("the answer date is before the request was sent")
        text = answer_text.strip() if answer_text else None
        store.update_request(conn, row.id, {
            "classification": classification.value, "answered_on": answered_on,
            "answer_text": text or None, "updated_at": _now(),
        })
        updated = store.find_request(conn, found.id, force.id)
    assert updated is not None
    return _request(updated)


def _request(row: store.RequestRow) -> FoiRequest:
    kind = row.classification
    return FoiRequest(
        round_name=row.round_name, force_id=row.force_id, question=row.question,
        jurisdiction=Jurisdiction(row.jurisdiction), sent_on=row.sent_on, due_on=row.due_on,
        answered_on=row.answered_on, answer_text=row.answer_text,
        classification=Classification(kind) if kind else None,
    )


def list_requests(engine: Engine, round_name: str | None = None) -> list[FoiRequest]:
    with engine.connect() as conn:
        round_id = None if round_name is None else _round(conn, round_name).id
        return [_request(row) for row in store.list_requests(conn, round_id=round_id)]


def overdue_requests(engine: Engine, today: date) -> list[FoiRequest]:
    """Requests past their due date with no answer recorded: the ones to chase."""
    with engine.connect() as conn:
        rows = store.list_requests(conn, unanswered_due_before=today)
    return [_request(row) for row in rows]


def round_tallies(engine: Engine, today: date) -> list[RoundTally]:
    """Every round, oldest first, with its answers counted: for charts and comparison."""
    with engine.connect() as conn:
        rounds = store.list_rounds(conn)
        requests = [_request(row) for row in store.list_requests(conn)]
    tallies = []
    for found in rounds:
        mine = [r for r in requests if r.round_name == found.name]
        counts = Counter(r.classification for r in mine if r.classification is not None)
        statuses = Counter(r.status(today) for r in mine)
        tallies.append(RoundTally(
            name=found.name, question=found.question, created_at=found.created_at,
            asked=len(mine), counts={c: counts.get(c, 0) for c in Classification},
            awaiting=statuses[RequestStatus.AWAITING], overdue=statuses[RequestStatus.OVERDUE],
        ))
    return tallies


def export_csv(engine: Engine) -> str:
    """Every request of every round, as CSV with :data:`CSV_COLUMNS`."""
    with engine.connect() as conn:
        questions = {r.name: r.question for r in store.list_rounds(conn)}
    rows = (
        [r.round_name, questions[r.round_name], r.force_id, r.question, r.jurisdiction.value,
         r.sent_on.isoformat(), r.due_on.isoformat(),
         r.answered_on.isoformat() if r.answered_on else "",
         r.classification.value if r.classification else "", r.answer_text or ""]
        for r in list_requests(engine)
    )
    return csv_text(CSV_COLUMNS, rows)  # formula-like cells neutralised (spreadsheet.py)


def _parse_date(value: str, line: int, column: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidInput(f"line {line}: {column} {value!r} is not a date (YYYY-MM-DD)") from exc


@dataclass(frozen=True)
class _Row:
    round_name: str
    round_question: str
    values: dict[str, Any]


def _parse_row(raw: Mapping[str, str], line: int) -> _Row:
    force = force_by_id(raw["force_id"].strip()) if raw["force_id"].strip() else None
    if force is None:
        raise InvalidInput(f"line {line}: force_id is empty")
    sent_on = _parse_date(raw["sent_on"], line, "sent_on")
    if sent_on is None:
        raise InvalidInput(f"line {line}: sent_on is empty")
    kind = raw["classification"].strip()
    if kind and kind not in set(Classification):
        choices = ", ".join(c.value for c in Classification)
        raise InvalidInput(f"line {line}: classification {kind!r} is not one of {choices}")
    jurisdiction = force.jurisdiction
    round_question = raw["round_question"].strip() or raw["question"].strip()
    return _Row(
        round_name=_clean(raw["round"], f"round name on line {line}", 100),
        round_question=_clean(round_question, f"question on line {line}", 4000),
        values={
            "force_id": force.id, "question": raw["question"].strip() or round_question,
            "jurisdiction": jurisdiction.value, "sent_on": sent_on,
            # The due date is the law's, so it is computed again, not trusted from the file.
            "due_on": due_date(sent_on, jurisdiction),
            "answered_on": _parse_date(raw["answered_on"], line, "answered_on"),
            "classification": kind or None, "answer_text": raw["answer_text"].strip() or None,
        },
    )


def _read_rows(text: str) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(f"the CSV lacks the column(s): {', '.join(missing)}")
    rows = []
    for number, raw in enumerate(reader, start=2):
        try:
            rows.append(_parse_row({k: restore(v or "") for k, v in raw.items()}, number))
        except InvalidInput as exc:
            message = str(exc)
            raise InvalidInput(message if message.startswith("line ") else
                               f"line {number}: {message}") from exc
    return rows


def import_csv(engine: Engine, text: str) -> int:
    """Add or update requests from CSV (as :func:`export_csv` writes); returns rows applied."""
    rows = _read_rows(text)
    try:
        with engine.begin() as conn:
            for row in rows:
                _apply_row(conn, row)
    except IntegrityError as exc:
        raise InvalidInput("the CSV contradicts itself (a force twice in one round?)") from exc
    return len(rows)


def _apply_row(conn: Connection, row: _Row) -> None:
    found = store.round_by_name(conn, row.round_name)
    round_id = (found.id if found is not None else store.insert_round(
        conn, name=row.round_name, question=row.round_question, now=_now()))
    existing = store.find_request(conn, round_id, row.values["force_id"])
    values = {**row.values, "updated_at": _now()}
    if existing is None:
        store.insert_request(conn, {**values, "round_id": round_id})
    else:
        store.update_request(conn, existing.id, values)


def tally_rows(tally: RoundTally) -> Sequence[tuple[str, int]]:
    """The tally as (label, count) rows, in a fixed order, for tables and charts."""
    order = (Classification.SHARES, Classification.DOES_NOT_SHARE, Classification.UNCLEAR,
             Classification.REFUSED, Classification.NO_ANSWER)
    rows = [(c.label, tally.counts[c]) for c in order]
    return [*rows, (N_("awaiting answer"), tally.awaiting), (N_("overdue"), tally.overdue)]
