"""Files of a report she has not sent yet (issue 18: check your answers before sending).

While she checks her answers, the files she chose wait here, sealed (``vault.transient``,
with the row's id as associated data), named by a hash of her session cookie, never by
anything she typed. Sending moves them into the case (sealed again under its key); the quick
exit, an expired session or a new report deletes them. Query functions never commit.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, LargeBinary, String, Table

from safereport.store.metadata import metadata

__all__ = ["report_draft_files"]

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
