"""Files of a report she has not sent yet (issue 18: check your answers before sending).

While she checks her answers, the files she chose wait here, sealed (``vault.transient``,
with the row's id as associated data), named by a hash of her session cookie, never by
anything she typed. Sending moves them into the case (sealed again under its key); the quick
exit, an expired session or a new report deletes them. Query functions never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    and_,
    delete,
    select,
)

from safereport.store.metadata import metadata

__all__ = [
    "DraftFileRow",
    "delete_draft_files",
    "delete_expired_files",
    "delete_voice_file",
    "draft_file_ids",
    "draft_files",
    "insert_draft_file",
    "report_draft_files",
]

report_draft_files = Table(
    "report_draft_files",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("session_key", String(64), nullable=False),
    Column("expires", Float, nullable=False),  # seconds since the epoch
    Column("media_type", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("cleaned", Boolean, nullable=False),
    # the recorded answer that stands in for the written one
    Column("voice", Boolean, nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Index("ix_report_draft_files_session_key", "session_key"),
    Index("ix_report_draft_files_expires", "expires"),
)


@dataclass(frozen=True, slots=True)
class DraftFileRow:
    """One file waiting with her draft, sealed with its id as associated data."""

    id: str
    media_type: str
    size: int
    cleaned: bool
    voice: bool
    sealed: bytes


def delete_expired_files(conn: Connection, now: float) -> None:
    """Forget every draft file whose session has ended."""
    conn.execute(delete(report_draft_files).where(report_draft_files.c.expires <= now))


def delete_voice_file(conn: Connection, session_key: str) -> None:
    """Forget her draft's recorded answer (a new one replaces it)."""
    conn.execute(delete(report_draft_files).where(and_(
        report_draft_files.c.session_key == session_key, report_draft_files.c.voice.is_(True))))


def draft_file_ids(conn: Connection, session_key: str) -> list[str]:
    """The ids of every file kept with her draft (expired or not)."""
    rows = conn.execute(select(report_draft_files.c.id)
                        .where(report_draft_files.c.session_key == session_key)).all()
    return [str(row.id) for row in rows]


def insert_draft_file(
    conn: Connection, session_key: str, expires: float, row: DraftFileRow
) -> None:
    conn.execute(report_draft_files.insert().values(
        id=row.id, session_key=session_key, expires=expires, media_type=row.media_type,
        size=row.size, cleaned=row.cleaned, voice=row.voice, sealed=row.sealed))


def draft_files(conn: Connection, session_key: str, now: float) -> list[DraftFileRow]:
    """Her draft's live files: the recorded answer first, then in the order she chose them."""
    rows = conn.execute(
        select(report_draft_files).where(and_(
            report_draft_files.c.session_key == session_key,
            report_draft_files.c.expires > now))
        .order_by(report_draft_files.c.voice.desc(), report_draft_files.c.expires)).all()
    return [DraftFileRow(str(r.id), str(r.media_type), int(r.size), bool(r.cleaned),
                         bool(r.voice), bytes(r.sealed)) for r in rows]


def delete_draft_files(conn: Connection, session_key: str, file_id: str | None = None) -> None:
    """Forget her draft's files (all, or the one with ``file_id``)."""
    where: Any = report_draft_files.c.session_key == session_key
    if file_id is not None:
        where = and_(where, report_draft_files.c.id == file_id)
    conn.execute(delete(report_draft_files).where(where))
