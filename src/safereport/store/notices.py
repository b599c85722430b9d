"""The outbox of neutral notices (issue 18): one row per notice to send, never its address.

A row names what happened (``kind``: ``reply`` to her, ``new_report`` to staff), the case,
and the member of staff concerned (the caseworker who wrote to her, whose decided access opens
her contact details when it is sent). Her address, her number and her safe times stay sealed
in the case; the row holds only when to try next, how often it was tried, and how it ended.
Query functions never commit.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Table

from safereport.store.metadata import metadata

__all__ = ["notices"]

notices = Table(
    "notices",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("case_id", String(32), ForeignKey("cases.id", ondelete="CASCADE"), nullable=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the next try: now, later after a failure, or the start of her next safe time
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    # set when the notice is settled: sent, or not sendable (see ``outcome``)
    Column("sent_at", DateTime(timezone=True), nullable=True),
    # sent_email, sent_text, sent_staff, no_safe_channel, no_safe_time, not_configured,
    # gave_up, erased
    Column("outcome", String(32), nullable=True),
    Column("last_error", String(200), nullable=True),
    Index("ix_notices_due", "sent_at", "due_at"),
)
