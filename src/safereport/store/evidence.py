"""Evidence attachments (issue 18): photos, PDFs and recordings attached to a case.

Each file is held only as ciphertext: cleaned of its metadata (or, for a recording that
cannot be cleaned, kept as it is by her explicit choice) and sealed by the vault under the
case's data key (category ``crime_details``, purpose label ``evidence:<id>``). No original
file name is kept: a name can say where a photo was taken. Erasure destroys the case key and
deletes these rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    and_,
    bindparam,
    delete,
    false,
    select,
)

from safereport.store.holding import holds_none
from safereport.store.metadata import metadata
from safereport.store.times import aware as _aware

__all__ = [
    "EvidenceRow",
    "delete_case_evidence",
    "evidence_files",
    "evidence_rows",
    "insert_evidence",
    "sealed_evidence",
]

evidence_files = Table(
    "evidence_files",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    # what the content is (checked from its first bytes): image/jpeg, application/pdf, ...
    Column("media_type", String(64), nullable=False),
    # size in bytes of the stored (cleaned) file, before sealing
    Column("size", Integer, nullable=False),
    # false: a recording kept as it was uploaded, by her explicit choice (it cannot be cleaned)
    Column("cleaned", Boolean, nullable=False),
    # who attached it: 'staff' (with the user) or 'victim' (through her own door)
    Column("added_kind", String(16), nullable=False),
    Column("added_by", String(32), ForeignKey("users.id"), nullable=True),
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the recorded answer that stands in for her written account (played on the case page)
    Column("voice", Boolean, nullable=False, server_default=false()),
    Index("ix_evidence_files_case", "case_id"),
)


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    """What is kept of an attachment besides its sealed content."""

    id: str
    media_type: str
    size: int
    cleaned: bool
    added_kind: str
    created_at: datetime
    voice: bool


def insert_evidence(conn: Connection, evidence_id: str, case_id: str, sealed: bytes, *,
                    media_type: str, size: int, cleaned: bool, added_kind: str,
                    added_by: str | None, now: datetime, voice: bool) -> None:
    """Store an attachment whose content the vault has sealed."""
    conn.execute(evidence_files.insert().values(
        id=evidence_id, case_id=case_id, media_type=media_type, size=size,
        cleaned=cleaned, added_kind=added_kind, added_by=added_by,
        sealed=sealed, created_at=now, voice=voice,
    ))


_LISTED = (
    select(evidence_files.c.id, evidence_files.c.media_type, evidence_files.c.size,
           evidence_files.c.cleaned, evidence_files.c.added_kind,
           evidence_files.c.created_at, evidence_files.c.voice)
    .where(evidence_files.c.case_id == bindparam("case_id"))
    .order_by(evidence_files.c.created_at, evidence_files.c.id)
)


def evidence_rows(conn: Connection, case_id: str) -> list[EvidenceRow]:
    """The case's attachments (no content), oldest first (built once: every case page)."""
    if holds_none(conn, evidence_files, case_id):
        return []
    rows = conn.execute(_LISTED, {"case_id": case_id}).all()
    return [EvidenceRow(id=row.id, media_type=row.media_type, size=int(row.size),
                        cleaned=bool(row.cleaned), added_kind=row.added_kind,
                        created_at=_aware(row.created_at), voice=bool(row.voice))
            for row in rows]


def sealed_evidence(conn: Connection, evidence_id: str, case_id: str) -> bytes | None:
    """The sealed content of the case's attachment (None if the case has no such one)."""
    sealed = conn.execute(select(evidence_files.c.sealed).where(and_(
        evidence_files.c.id == evidence_id,
        evidence_files.c.case_id == case_id))).scalar()
    return bytes(sealed) if sealed is not None else None


def delete_case_evidence(conn: Connection, case_id: str) -> None:
    """Delete the case's attachments (erasure: their key is destroyed apart)."""
    conn.execute(delete(evidence_files).where(evidence_files.c.case_id == case_id))


