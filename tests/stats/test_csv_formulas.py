"""Item 8: no CSV this project writes lets a spreadsheet run a cell as a formula."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import Engine

from safereport.stats import tracker
from safereport.stats.foi import Classification
from safereport.stats.spreadsheet import csv_text, neutralise

PAYLOADS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1", '=HYPERLINK("http://evil.example","x")']


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def test_item8_foi_export_neutralises_formula_cells(engine: Engine) -> None:
    tracker.create_round(engine, "=round()", "@question")
    forces = ["kent-police", "psni", "essex-police", "police-scotland", "cumbria-constabulary",
              "dorset-police", "durham-constabulary"]
    tracker.send_requests(engine, "=round()", forces, date(2026, 12, 18))
    for force, payload in zip(forces, PAYLOADS, strict=True):
        tracker.record_answer(engine, "=round()", force, classification=Classification.UNCLEAR,
                              answered_on=date(2027, 1, 8), answer_text=payload + " x")
    exported = tracker.export_csv(engine)
    cells = _cells(exported)
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert "'=cmd|' /C calc'!A0 x" in cells and "'=round()" in cells
    # The tracker reads its own export back to the same text (round trip kept).
    again = exported.replace("=round()", "=other()")
    assert tracker.import_csv(engine, again) == len(forces)
    answers = {r.answer_text for r in tracker.list_requests(engine, "=other()")}
    assert answers == {p.strip() + " x" for p in PAYLOADS}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_item8_every_formula_start_is_neutralised(payload: str) -> None:
    assert neutralise(payload) == "'" + payload
    assert _cells(csv_text(["a"], [[payload]]))[1].startswith("'")


@pytest.mark.parametrize("number", ["-3", "+4", "-0.5", "12", "1e3"])
def test_item8_plain_numbers_stay_numbers(number: str) -> None:
    assert neutralise(number) == number
    assert neutralise(-3) == -3
