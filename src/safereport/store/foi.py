"""The campaign's own FOI requests to police forces: rounds and one request per force per round.

Query functions take a connection and never commit; the tracker service owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.engine import RowMapping

from safereport.store.metadata import metadata

__all__ = [
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


def round_by_name(conn: Connection, name: str) -> RowMapping | None:
    return conn.execute(select(foi_rounds).where(foi_rounds.c.name == name)).mappings().first()


def list_rounds(conn: Connection) -> Sequence[RowMapping]:
    query = select(foi_rounds).order_by(foi_rounds.c.created_at, foi_rounds.c.id)
    return conn.execute(query).mappings().all()


def insert_request(conn: Connection, values: Mapping[str, Any]) -> int:
    key = conn.execute(insert(foi_requests).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def find_request(conn: Connection, round_id: int, force_id: str) -> RowMapping | None:
    query = select(foi_requests).where(
        foi_requests.c.round_id == round_id, foi_requests.c.force_id == force_id
    )
    return conn.execute(query).mappings().first()


def update_request(conn: Connection, request_id: int, values: Mapping[str, Any]) -> None:
    conn.execute(update(foi_requests).where(foi_requests.c.id == request_id).values(**values))


def list_requests(
    conn: Connection, *, round_id: int | None = None, unanswered_due_before: date | None = None
) -> Sequence[RowMapping]:
    query = select(foi_requests, foi_rounds.c.name.label("round_name")).join(foi_rounds)
    if round_id is not None:
        query = query.where(foi_requests.c.round_id == round_id)
    if unanswered_due_before is not None:
        query = query.where(
            foi_requests.c.answered_on.is_(None),
            foi_requests.c.classification.is_(None),
            foi_requests.c.due_on < unanswered_due_before,
        )
    order = (foi_rounds.c.created_at, foi_requests.c.round_id, foi_requests.c.force_id)
    return conn.execute(query.order_by(*order)).mappings().all()
