"""CSV that a spreadsheet opens as data, never as a formula.

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or ``@``
(and, after trimming, a tab or carriage return) as a formula: a FOI answer recorded as
``=HYPERLINK(...)`` or ``=cmd|' /C calc'!A0`` would run on the reader's machine. Every CSV
this project writes passes its cells through :func:`neutralise`, which prefixes such text with
an apostrophe (OWASP's advice). Plain numbers, negative ones included, are left as numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

__all__ = ["FORMULA_STARTS", "csv_text", "neutralise", "restore"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise(value: object) -> object:
    """``value``, or for text a spreadsheet would run as a formula, that text after ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) \
            and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_text(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """The header and rows as CSV (RFC 4180, CRLF line ends), every cell neutralised."""
    out = io.StringIO()
    # CRLF (RFC 4180): then a CR or LF inside a cell is always quoted, never a row break.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return out.getvalue()


def restore(text: str) -> str:
    """The text :func:`neutralise` was given (reading back a CSV this project wrote)."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text
