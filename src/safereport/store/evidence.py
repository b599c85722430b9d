"""Evidence attachments (issue 18): photos, PDFs and recordings attached to a case.

Each file is held only as ciphertext: cleaned of its metadata (or, for a recording that
cannot be cleaned, kept as it is by her explicit choice) and sealed by the vault under the
case's data key (category ``crime_details``, purpose label ``evidence:<id>``). No original
file name is kept: a name can say where a photo was taken. Erasure destroys the case key and
deletes these rows.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    false,
)

from safereport.store.metadata import metadata

__all__ = ["evidence_files"]

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
