from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine

from safereport.errors import InvalidInput
from safereport.stats import tracker
from safereport.stats.bankholidays import Jurisdiction
from safereport.stats.foi import Classification

Q = "Do you share victims' data with the Home Office?"


def _round(engine: Engine, name: str = "2026-winter") -> None:
    tracker.create_round(engine, name, Q)


def test_sending_to_all_forces_sets_each_due_date_by_jurisdiction(engine: Engine) -> None:
    _round(engine)
    sent = tracker.send_requests(engine, "2026-winter", None, date(2026, 12, 18))
    assert len(sent) == 46
    by_force = {r.force_id: r for r in sent}
    assert by_force["police-scotland"].jurisdiction is Jurisdiction.SCOTLAND
    assert by_force["police-scotland"].due_on == date(2027, 1, 21)
    assert by_force["psni"].due_on == date(2027, 1, 20)
    assert by_force["kent-police"].due_on == date(2027, 1, 20)


def test_answers_tallies_and_overdue(engine: Engine) -> None:
    _round(engine)
    forces = ["kent-police", "essex-police", "psni", "police-scotland"]
    tracker.send_requests(engine, "2026-winter", forces, date(2026, 12, 18))
    tracker.record_answer(engine, "2026-winter", "kent-police",
                          classification=Classification.SHARES, answered_on=date(2027, 1, 5),
                          answer_text="  We refer where appropriate.  ")
    tracker.record_answer(engine, "2026-winter", "police-scotland",
                          classification=Classification.DOES_NOT_SHARE)
    # The day after Scotland's due date, the two unanswered English/NI requests are overdue.
    late = tracker.overdue_requests(engine, date(2027, 1, 21))
    assert sorted(r.force_id for r in late) == ["essex-police", "psni"]
    assert tracker.overdue_requests(engine, date(2027, 1, 20)) == []
    [tally] = tracker.round_tallies(engine, date(2027, 1, 21))
    assert tally.asked == 4
    assert tally.counts[Classification.SHARES] == 1
    assert tally.counts[Classification.DOES_NOT_SHARE] == 1
    assert (tally.awaiting, tally.overdue) == (0, 2)
    kent = next(r for r in tracker.list_requests(engine) if r.force_id == "kent-police")
    assert kent.answer_text == "We refer where appropriate."


def test_refusals_are_clear(engine: Engine) -> None:
    _round(engine)
    with pytest.raises(InvalidInput, match="exists already"):
        _round(engine)
    with pytest.raises(InvalidInput, match="no police force"):
        tracker.send_requests(engine, "2026-winter", ["atlantis-police"], date(2026, 1, 5))
    with pytest.raises(InvalidInput, match="no FOI round"):
        tracker.send_requests(engine, "nope", ["kent-police"], date(2026, 1, 5))
    with pytest.raises(InvalidInput, match="was not sent"):
        tracker.record_answer(engine, "2026-winter", "kent-police",
                              classification=Classification.REFUSED)
    tracker.send_requests(engine, "2026-winter", ["kent-police"], date(2026, 1, 5))
    with pytest.raises(InvalidInput, match="already sent"):
        tracker.send_requests(engine, "2026-winter", ["kent-police"], date(2026, 1, 6))


def test_csv_round_trip_and_bad_files_change_nothing(engine: Engine, tmp_path: object) -> None:
    _round(engine)
    tracker.send_requests(engine, "2026-winter", ["kent-police", "psni"], date(2026, 12, 18))
    tracker.record_answer(engine, "2026-winter", "psni", classification=Classification.UNCLEAR,
                          answered_on=date(2027, 1, 8), answer_text='He said "no", mostly,\nbut')
    exported = tracker.export_csv(engine)
    # A second round arrives from another machine, in the same format.
    other = exported.replace("2026-winter", "2027-spring")
    assert tracker.import_csv(engine, other) == 2
    assert tracker.export_csv(engine).count("\n2027-spring,") == 2
    names = [t.name for t in tracker.round_tallies(engine, date(2027, 2, 1))]
    assert names == ["2026-winter", "2027-spring"]
    psni = next(r for r in tracker.list_requests(engine, "2027-spring") if r.force_id == "psni")
    assert psni.answer_text == 'He said "no", mostly,\nbut'
    before = tracker.export_csv(engine)
    bad = other.replace("unclear", "maybe")
    with pytest.raises(InvalidInput, match=r"line \d+: classification 'maybe'"):
        tracker.import_csv(engine, bad.replace("2027-spring", "2028"))
    assert tracker.export_csv(engine) == before


def test_import_recomputes_due_dates(engine: Engine) -> None:
    header = ",".join(tracker.CSV_COLUMNS)
    row = "r1,Q?,police-scotland,Q?,england-wales,2026-12-18,2026-12-19,,,"
    assert tracker.import_csv(engine, f"{header}\n{row}\n") == 1
    [request] = tracker.list_requests(engine)
    assert request.jurisdiction is Jurisdiction.SCOTLAND
    assert request.due_on == date(2027, 1, 21)
