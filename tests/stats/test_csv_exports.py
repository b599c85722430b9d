"""Item 8: the statistics release CSV and the funders' return CSV go through the formula
neutraliser of ``stats/spreadsheet.py`` like every other CSV this project writes."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace
from typing import cast

import pytest

from safereport.services.returns import Period, ReturnTable, to_csv
from safereport.stats.export import CSV_COLUMNS, release_csv
from safereport.stats.release import Cell, DimensionKey, PublishedRelease, ReleaseTable

PAYLOADS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1"]


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_item8_release_csv_neutralises_formula_cells(payload: str) -> None:
    table = ReleaseTable(key=next(iter(DimensionKey)), title="t", sensitivity=1, epsilon=0.5,
                         scale=2.0, error_95=6,
                         cells=(Cell(category=payload, count=12, shown="12", noisy=-3,
                                     low=8, high=16),))
    release = cast(PublishedRelease, SimpleNamespace(id=payload, month="2026-11",
                                                     tables=[table]))
    header, row = _rows(release_csv(release))
    assert tuple(header) == CSV_COLUMNS
    cells = dict(zip(header, row, strict=True))
    assert cells["release"] == cells["category"] == "'" + payload
    assert cells["noisy"] == "-3"  # a number stays a number


@pytest.mark.parametrize("payload", PAYLOADS)
def test_item8_funders_return_csv_neutralises_formula_cells(payload: str) -> None:
    table = ReturnTable(year=2026, period=Period.QUARTER, columns=("2026-Q1", "2026-Q2"),
                        rows=((payload, (7, None)),))
    header, row = _rows(to_csv(table))
    assert header == ["measure", "2026-Q1", "2026-Q2"]
    assert row == ["'" + payload, "7", "<5"]
