"""The case list shows who holds each case, that she wrote and waits for a reply, and the
first-contact timer of a report she made herself (issue 17; the review found "Updated" stayed
put after her message and nothing in the list showed it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from tests.support.staff_client import signed_in
from tests.support.staff_world import StaffWorld
from tests.support.unsafe_seal import unsafe_seal

from safereport.domain.case import new_id
from safereport.services import casework
from safereport.services.access import Write
from safereport.services.casework import FIRST_CONTACT_HOURS
from safereport.services.intake import parse_submission, submit_report
from safereport.store.core import cases


def _her_message(world: StaffWorld, case_id: str, when: datetime) -> None:
    with world.instance.engine.begin() as conn:
        write = Write(world.instance, conn, unsafe_seal(conn, case_id))
        casework.insert_note(write, conn, new_id(), "Please call after 6pm.",
                             author_id=None, author_kind="victim", visible_to_subject=True,
                             now=when)


def _listed(world: StaffWorld, case_id: str) -> casework.CaseSummary:
    [found] = [c for c in casework.list_cases(world.instance, world.users["cw"])
               if c.id == case_id]
    return found


def test_first_contact_timer_and_her_waiting_message(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    receipt = submit_report(world.instance, parse_submission(
        {"mode": "anonymous", "crime_type": "domestic_abuse", "narrative": "Synthetic."}))
    fresh = _listed(world, receipt.case_id)
    assert fresh.first_contact_due is not None and not fresh.first_contact_overdue
    assert fresh.first_contact_due - fresh.created_at == timedelta(hours=FIRST_CONTACT_HOURS)
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    with world.instance.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == receipt.case_id)
                     .values(created_at=three_days_ago))
    assert _listed(world, receipt.case_id).first_contact_overdue
    _her_message(world, receipt.case_id, datetime.now(UTC) - timedelta(hours=1))
    assert _listed(world, receipt.case_id).her_message_waiting
    casework.add_note(world.instance, world.users["cw"], receipt.case_id, "Called her back.")
    answered = _listed(world, receipt.case_id)
    assert not answered.her_message_waiting and answered.first_contact_due is None
    _her_message(world, receipt.case_id, datetime.now(UTC) + timedelta(minutes=1))
    assert _listed(world, receipt.case_id).her_message_waiting
    # A report staff filed for her: they have met her, so no timer; the holder is shown.
    filed = world.file("cw")
    listed = _listed(world, filed.case_id)
    assert listed.first_contact_due is None and listed.assignee == "Cw"
    page = signed_in(world, "cw").get("/staff/cases").text
    assert "She wrote: reply" in page and "First contact" not in page.split(filed.reference)[1]
