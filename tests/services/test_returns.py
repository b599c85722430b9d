"""Statuses with closure reasons, and returns for funders as CSV with small-cell suppression
(issue 17): counts by month or quarter, never a row per person."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from tests.support.staff_client import signed_in
from tests.support.staff_world import StaffWorld

from safereport.domain.case import CaseStatus
from safereport.domain.vocabulary import DataCategory, Purpose, Recipient
from safereport.errors import InvalidInput
from safereport.services import casework, disclosure, returns
from safereport.services.disclosure import DisclosureForm
from safereport.services.returns import Measure, Period
from safereport.store.core import cases


def test_closing_a_case_needs_a_reason_and_shows_it(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    filed = world.file("cw")
    cw = world.users["cw"]
    with pytest.raises(InvalidInput, match="choose why the case is closed"):
        casework.change_status(world.instance, cw, filed.case_id, CaseStatus.CLOSED)
    with pytest.raises(InvalidInput, match="choose why the case is closed"):
        casework.change_status(world.instance, cw, filed.case_id, CaseStatus.CLOSED,
                               closure_reason="bored")
    casework.change_status(world.instance, cw, filed.case_id, CaseStatus.CLOSED,
                           closure_reason="dropped_out")
    page = casework.case_page(world.instance, cw, filed.case_id)
    assert page.summary.status is CaseStatus.CLOSED
    assert page.closure == "She stopped responding (dropped out)"
    # another organisation's attempt is still "no such case", whatever the reason says
    with pytest.raises(InvalidInput, match="no such case"):
        casework.change_status(world.instance, world.users["other_cw"], filed.case_id,
                               CaseStatus.CLOSED)


def test_suppression_primary_and_complementary() -> None:
    measures = [Measure("total", "g", is_total=True), Measure("a", "g"), Measure("b", "g"),
                Measure("c", "g"), Measure("alone")]
    raw = {"total": [12, 3, 10, 0], "a": [9, 3, 10, 0], "b": [3, 0, 0, 0], "c": [0, 0, 0, 0],
           "alone": [4, 5, 1, 0]}
    out = dict(zip([m.name for m in measures], returns.suppress(measures, raw), strict=True))
    assert out["total"] == [12, None, 10, 0]
    # column 0: b=3 is hidden, so a=9 is hidden too (else 12 - 9 gives b)
    assert out["a"][0] is None and out["b"][0] is None and out["c"][0] == 0
    # column 1: a=3 hidden; nothing else non-zero to hide, and the total is hidden itself
    assert out["a"][1] is None
    assert out["a"][2] == 10 and out["b"][2] == 0
    assert out["alone"] == [None, 5, None, 0]


def _at(world: StaffWorld, case_id: str, when: datetime) -> None:
    with world.instance.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == case_id).values(created_at=when))


def test_the_return_counts_by_quarter_and_never_lists_a_person(
    sqlite_world: StaffWorld,
) -> None:
    world = sqlite_world
    cw = world.users["cw"]
    q1 = [world.file("cw") for _ in range(6)]
    q3 = [world.file("cw", consents=((Recipient.HEALTH, Purpose.SAFEGUARDING),))
          for _ in range(2)]
    for filed in q1:
        _at(world, filed.case_id, datetime(2026, 2, 3, tzinfo=UTC))
    for filed in q3:
        _at(world, filed.case_id, datetime(2026, 8, 9, tzinfo=UTC))
        world.confirm_consents(filed)
        disclosure.request_disclosure(world.instance, cw, DisclosureForm(
            case_id=filed.case_id, recipient_org_id=world.orgs["health"],
            purpose=Purpose.SAFEGUARDING, categories=frozenset({DataCategory.CONTACT})))
    for filed in q1[:5]:
        casework.change_status(world.instance, cw, filed.case_id, CaseStatus.CLOSED,
                               closure_reason="support_completed")
    world.file("other_cw")  # another organisation's case is not counted
    table = returns.funders_return(world.instance, world.users["sup1"], year=2026,
                                   period=Period.QUARTER)
    assert table.columns == ("2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4")
    rows = dict(table.rows)
    assert rows["New cases"] == (6, 0, None, 0)
    assert rows["New cases: domestic abuse"] == (6, 0, None, 0)
    assert rows["New cases: filed by staff for her"] == (6, 0, None, 0)
    this_quarter = f"2026-Q{(datetime.now(UTC).month - 1) // 3 + 1}"
    closed = rows["Cases closed: Support completed: what she wanted is done"]
    assert closed[table.columns.index(this_quarter)] == 5
    health = rows["Referrals and disclosures sent: Health services"]
    assert health[table.columns.index(this_quarter)] is None  # 2 releases: "<5"
    text = returns.to_csv(table)
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == ["measure", *table.columns]
    assert len(parsed) == 1 + len(table.rows)  # one row per measure, whatever the cases
    assert "<5" in text
    for filed in q1 + q3:
        assert filed.reference not in text and filed.case_id not in text
    monthly = returns.funders_return(world.instance, world.users["sup1"], year=2026,
                                     period=Period.MONTH)
    assert dict(monthly.rows)["New cases"][1] == 6 and len(monthly.columns) == 12


def test_the_return_pages(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    world.file("cw")
    supervisor = signed_in(world, "sup1")
    page = supervisor.get("/staff/returns?year=2026&by=month")
    assert page.status_code == 200 and "2026-12" in page.text and "New cases" in page.text
    download = supervisor.get("/staff/returns.csv?year=2026")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert download.text.startswith("measure,2026-Q1,2026-Q2,2026-Q3,2026-Q4")
    assert supervisor.get("/staff/returns?year=nope").status_code == 400
    assert supervisor.get("/staff/returns?year=1200").status_code == 400
    for username in ("cw", "officer", "auditor", "marac"):
        refused = signed_in(world, username).get("/staff/returns.csv")
        assert refused.status_code == 403, username
