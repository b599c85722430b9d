"""Times read back from the database, always timezone-aware.

SQLite hands back naive datetimes even for ``timezone=True`` columns; everything this project
stores is UTC, so a naive value read back is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["aware"]


def aware(moment: datetime) -> datetime:
    """``moment`` with its time zone: UTC when the database gave none."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
