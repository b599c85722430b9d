"""The campaign's own FOI requests to police forces: rounds and one request per force per round.

Query functions take a connection and never commit; the tracker service owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Row

from safereport.store.metadata import metadata
from safereport.store.times import aware

__all__ = [
    "RequestRow",
    "RoundRow",
    "find_request",
    "foi_requests",
    "foi_rounds",
    "insert_request",
    "insert_round",
    "list_requests",
    "list_rounds",
    "round_by_name",
    "update_request",
]

foi_rounds = Table(
    "foi_rounds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("question", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

foi_requests = Table(
    "foi_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("round_id", Integer, ForeignKey("foi_rounds.id"), nullable=False, index=True),
    Column("force_id", String(64), nullable=False),
    Column("question", Text, nullable=False),
    Column("jurisdiction", String(32), nullable=False),
    Column("sent_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("answered_on", Date, nullable=True),
    Column("answer_text", Text, nullable=True),
    Column("classification", String(16), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("round_id", "force_id", name="uq_foi_requests_round_force"),
    CheckConstraint("due_on > sent_on", name="due_after_sent"),
)


def insert_round(conn: Connection, *, name: str, question: str, now: datetime) -> int:
    result = conn.execute(
        insert(foi_rounds).values(name=name, question=question, created_at=now)
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


@dataclass(frozen=True, slots=True)
class RoundRow:
    """A round of FOI requests: its name and the question every request in it asks."""

    id: int
    name: str
    question: str
    created_at: datetime


def _round(row: Row[Any]) -> RoundRow:
    return RoundRow(int(row.id), row.name, row.question, aware(row.created_at))


def round_by_name(conn: Connection, name: str) -> RoundRow | None:
    row = conn.execute(select(foi_rounds).where(foi_rounds.c.name == name)).first()
    return None if row is None else _round(row)


def list_rounds(conn: Connection) -> list[RoundRow]:
    query = select(foi_rounds).order_by(foi_rounds.c.created_at, foi_rounds.c.id)
    return [_round(row) for row in conn.execute(query)]


def insert_request(conn: Connection, values: Mapping[str, Any]) -> int:
    key = conn.execute(insert(foi_requests).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


@dataclass(frozen=True, slots=True)
class RequestRow:
    """One request to one force in one round (its round's name with it); the jurisdiction
    and classification as their stored words."""

    id: int
    round_id: int
    round_name: str
    force_id: str
    question: str
    jurisdiction: str
    sent_on: date
    due_on: date
    answered_on: date | None
    answer_text: str | None
    classification: str | None
    updated_at: datetime


def _request(row: Row[Any]) -> RequestRow:
    return RequestRow(
        id=int(row.id), round_id=int(row.round_id), round_name=row.round_name,
        force_id=row.force_id, question=row.question, jurisdiction=row.jurisdiction,
        sent_on=row.sent_on, due_on=row.due_on, answered_on=row.answered_on,
        answer_text=row.answer_text, classification=row.classification,
        updated_at=aware(row.updated_at))


def _requests() -> Select[Any]:
    return select(foi_requests, foi_rounds.c.name.label("round_name")).join(foi_rounds)


def find_request(conn: Connection, round_id: int, force_id: str) -> RequestRow | None:
    query = _requests().where(
        foi_requests.c.round_id == round_id, foi_requests.c.force_id == force_id
    )
    row = conn.execute(query).first()
    return None if row is None else _request(row)


def update_request(conn: Connection, request_id: int, values: Mapping[str, Any]) -> None:
    conn.execute(update(foi_requests).where(foi_requests.c.id == request_id).values(**values))


def list_requests(
    conn: Connection, *, round_id: int | None = None, unanswered_due_before: date | None = None
) -> list[RequestRow]:
    query = _requests()
    if round_id is not None:
        query = query.where(foi_requests.c.round_id == round_id)
    if unanswered_due_before is not None:
        query = query.where(
            foi_requests.c.answered_on.is_(None),
            foi_requests.c.classification.is_(None),
            foi_requests.c.due_on < unanswered_due_before,
        )
    order = (foi_rounds.c.created_at, foi_requests.c.round_id, foi_requests.c.force_id)
    return [_request(row) for row in conn.execute(query.order_by(*order))]
