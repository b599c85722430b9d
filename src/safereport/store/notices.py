"""The outbox of neutral notices (issue 18): one row per notice to send, never its address.

A row names what happened (``kind``: ``reply`` to her, ``new_report`` to staff), the case,
and the member of staff concerned (the caseworker who wrote to her, whose decided access opens
her contact details when it is sent). Her address, her number and her safe times stay sealed
in the case; the row holds only when to try next, how often it was tried, and how it ended.
Query functions never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    and_,
    func,
    select,
    update,
)

from safereport.store.metadata import metadata

__all__ = [
    "NoticeRow",
    "claim_notice",
    "due_notices",
    "notices",
    "outcome_counts",
    "queue_notice",
    "record_try",
]

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


@dataclass(frozen=True, slots=True)
class NoticeRow:
    """One notice in the outbox (never an address: only what happened, to which case)."""

    id: str
    kind: str
    case_id: str | None
    user_id: str | None
    created_at: datetime
    due_at: datetime
    attempts: int
    sent_at: datetime | None
    outcome: str | None
    last_error: str | None


def _notice(row: Any) -> NoticeRow:
    return NoticeRow(
        id=row.id, kind=row.kind, case_id=row.case_id, user_id=row.user_id,
        created_at=row.created_at, due_at=row.due_at, attempts=int(row.attempts),
        sent_at=row.sent_at, outcome=row.outcome, last_error=row.last_error,
    )


def queue_notice(conn: Connection, *, id: str, kind: str, case_id: str,
                 user_id: str | None, now: datetime) -> None:
    """Put a notice in the outbox, due now and not yet tried."""
    conn.execute(notices.insert().values(
        id=id, kind=kind, case_id=case_id, user_id=user_id, created_at=now, due_at=now,
        attempts=0))


def due_notices(conn: Connection, now: datetime, limit: int) -> list[NoticeRow]:
    """Unsettled notices due at ``now`` or before, the earliest due first, at most ``limit``."""
    rows = conn.execute(
        select(notices).where(and_(notices.c.sent_at.is_(None), notices.c.due_at <= now))
        .order_by(notices.c.due_at).limit(limit)).all()
    return [_notice(row) for row in rows]


def claim_notice(conn: Connection, notice_id: str, due_at: datetime, until: datetime) -> bool:
    """Claim an unsettled notice still due at ``due_at`` (compare-and-set on its due time) by
    moving its due time to ``until``; True only for the one caller that moved it."""
    claimed = conn.execute(update(notices).where(and_(
        notices.c.id == notice_id, notices.c.sent_at.is_(None),
        notices.c.due_at == due_at)).values(due_at=until)).rowcount
    return claimed == 1


def record_try(conn: Connection, notice_id: str, *, due_at: datetime,
               settled: tuple[datetime, str] | None, error: str) -> None:
    """Count one more try of the notice and set its next due time; when ``settled`` (when,
    outcome), mark it sent with that outcome; a non-empty ``error`` becomes its last error."""
    values: dict[str, Any] = {"attempts": notices.c.attempts + 1}
    if settled is not None:
        values.update(sent_at=settled[0], outcome=settled[1])
    values["due_at"] = due_at
    if error:
        values["last_error"] = error
    conn.execute(update(notices).where(notices.c.id == notice_id).values(**values))


def outcome_counts(conn: Connection) -> dict[str | None, int]:
    """How many notices there are per outcome (``None`` for those not settled yet)."""
    rows = conn.execute(select(notices.c.outcome, func.count())
                        .group_by(notices.c.outcome)).all()
    return {outcome: int(count) for outcome, count in rows}
