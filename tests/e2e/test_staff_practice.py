"""Issue 17 in Chromium: outcome measures, the MARAC meeting's actions, a dormant case and
reopening it, consents due for review, a transfer to another area; axe-core on each new page
state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from tests.e2e.test_staff_pages import Axe, Serve, _no_violations, sign_in
from tests.support.staff_world import StaffWorld

from safereport.domain.vocabulary import Purpose, Recipient
from safereport.store.core import consents
from safereport.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_caseworker_scores_outcomes_records_marac_actions_and_makes_a_case_dormant(
    staff_world: StaffWorld, live_server: Serve, page: Any, axe_violations: Axe,
) -> None:
    world = staff_world
    filed = world.file("cw", consents=((Recipient.MARAC, Purpose.MARAC),))
    world.confirm_consents(filed)
    with world.instance.engine.begin() as conn:  # her consent is due for review in a week
        conn.execute(update(consents).values(review_on=datetime.now(UTC) + timedelta(days=7)))
    base = live_server(create_app(world.instance))
    sign_in(page, base, world, "cw")
    page.goto(base + f"/staff/cases/{filed.case_id}")
    assert "1 of her consents is due for review" in page.locator(".consents-review").inner_text()
    _no_violations(page, axe_violations)
    # Outcomes at the start of support.
    page.get_by_text("Score her outcomes: at the start of support").click()
    page.get_by_label("How safe does she feel?").first.select_option(label="Not very safe")
    page.get_by_label("Is the abuse still happening?").first.select_option(
        label="Yes, as much or more")
    page.get_by_role("button", name="Save the scores at the start of support").click()
    assert page.locator('[data-outcome="entry-safety"]').inner_text() == "Not very safe"
    assert page.locator('[data-outcome="exit-safety"]').inner_text() == "not scored"
    _no_violations(page, axe_violations)
    # An action the MARAC meeting agreed.
    page.get_by_text("Record an action the MARAC meeting agreed").click()
    page.get_by_label("What the meeting agreed").fill("Housing to fit a sanctuary scheme")
    page.get_by_label("Agency that owns it").select_option(label="Housing")
    page.get_by_label("When it is due (date)").fill("2027-01-15")
    page.get_by_role("button", name="Record the MARAC action").click()
    row = page.locator("table.marac-actions tbody tr").first
    assert "Housing to fit a sanctuary scheme" in row.inner_text()
    assert "15 Jan 2027" in row.inner_text()
    _no_violations(page, axe_violations)
    row.get_by_role("button", name="Mark done").click()
    assert "done" in page.locator("table.marac-actions tbody tr").first.inner_text()
    # Dormant, shown so in the list, then reopened.
    page.get_by_label("Change status to").select_option("dormant")
    page.get_by_role("button", name="Change status").click()
    assert "no contact with her for now" in page.locator(".case-status").inner_text()
    _no_violations(page, axe_violations)
    page.goto(base + "/staff/cases?status=dormant")
    assert filed.reference in page.locator("table.data").inner_text()
    _no_violations(page, axe_violations)
    page.goto(base + f"/staff/cases/{filed.case_id}")
    page.get_by_label("Change status to").select_option("in_progress")
    page.get_by_role("button", name="Change status").click()
    assert page.locator(".case-status").inner_text() == "in progress"
    # The funders' return counts the case and the outcomes (as "<5": one case).
    sign_in(page, base, world, "sup1")
    page.goto(base + "/staff/returns")
    assert "Cases open at the end of the period (not dormant)" in page.content()
    _no_violations(page, axe_violations)


def test_supervisors_transfer_a_case_and_the_service_there_takes_it_in(
    staff_world: StaffWorld, live_server: Serve, page: Any, axe_violations: Axe,
) -> None:
    world = staff_world
    filed = world.file("cw")
    base = live_server(create_app(world.instance))
    sign_in(page, base, world, "sup1")
    page.goto(base + f"/staff/cases/{filed.case_id}")
    page.get_by_text("Hand her case to a support service in another area").click()
    _no_violations(page, axe_violations)
    page.get_by_label("Support service in her new area").select_option(label="Other Support")
    page.get_by_label("Why (written for the approver: not her details)").fill(
        "She has moved to Othertown; the MARAC there will hear her case.")
    page.get_by_role("button", name="Ask to transfer the case").click()
    assert page.locator(".disclosure-status").inner_text() == "needs approval"
    _no_violations(page, axe_violations)
    disclosure_url = page.url
    sign_in(page, base, world, "sup2")
    page.goto(disclosure_url)
    page.get_by_role("button", name="Approve as second supervisor").click()
    assert page.locator(".disclosure-status").inner_text() == "released"
    sign_in(page, base, world, "other_cw")
    page.goto(base + "/staff/inbox")
    assert "A case transferred to your area" in page.locator("table.data").inner_text()
    _no_violations(page, axe_violations)
    page.get_by_role("button", name="Take into our casework").click()
    narrative = page.locator('[data-field="narrative"]').inner_text()
    assert "He took my passport and hit me." in narrative
    _no_violations(page, axe_violations)
    sign_in(page, base, world, "cw")
    page.goto(base + f"/staff/cases/{filed.case_id}")
    assert "Transferred to another area" in page.locator(".case-status").inner_text()
    assert "taken into Other Support's casework" in page.locator("ul.transfers").inner_text()
    _no_violations(page, axe_violations)
