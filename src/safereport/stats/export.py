"""A release as CSV (one row per cell) and the files anyone needs to check it."""

from __future__ import annotations

from safereport.stats.release import PublishedRelease
from safereport.stats.spreadsheet import csv_text

__all__ = ["CSV_COLUMNS", "release_csv"]

CSV_COLUMNS = ("release", "period", "table", "category", "count", "shown", "low_95", "high_95",
               "noisy", "error_95", "epsilon", "delta", "sensitivity", "scale")


def release_csv(release: PublishedRelease) -> str:
    """Every cell of the release: the tidy count (empty where too uncertain to show), its 95%
    interval, and the unprocessed noisy value for re-analysis (empty only in older releases,
    which kept none below their threshold). RFC 4180, every cell neutralised."""
    rows = [
        [release.id, release.month, table.key.value, cell.category,
         "" if cell.count is None else cell.count, cell.shown, cell.low, cell.high,
         "" if cell.noisy is None else cell.noisy, table.error_95,
         repr(table.epsilon), 0.0, table.sensitivity, repr(table.scale)]
        for table in release.tables for cell in table.cells]
    # Through the formula neutraliser like every CSV this project writes (issue 14 item 8):
    # a category or release label is text a spreadsheet must not run.
    return csv_text(CSV_COLUMNS, rows)
