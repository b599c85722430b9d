"""Her messages: the notes of her case she and her caseworker can both see.

A message's text is sealed by the vault under the case's key (category ``case_notes``); the
rows here hold the ciphertext and who wrote it. Query functions never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, select

from safereport.store.core import notes

__all__ = ["MessageRow", "insert_her_message", "messages_for_her"]


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One sealed message: its note id (the label it is sealed under), who wrote it, when."""

    id: str
    author_kind: str
    sealed: bytes
    created_at: datetime


def messages_for_her(conn: Connection, case_id: str) -> list[MessageRow]:
    """The case's notes she may see, oldest first."""
    rows = conn.execute(
        select(notes)
        .where(and_(notes.c.case_id == case_id, notes.c.visible_to_subject))
        .order_by(notes.c.created_at, notes.c.id)
    ).all()
    return [MessageRow(str(r.id), str(r.author_kind), bytes(r.sealed), r.created_at)
            for r in rows]


def insert_her_message(
    conn: Connection, note_id: str, case_id: str, sealed: bytes, now: datetime
) -> None:
    """A message she wrote, already sealed under the case's key."""
    conn.execute(
        notes.insert().values(
            id=note_id, case_id=case_id, author_id=None, author_kind="victim",
            visible_to_subject=True, sealed=sealed, created_at=now,
        )
    )
