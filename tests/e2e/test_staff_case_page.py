"""Issue 17 in Chromium: the case page for people, her language and interpreter needs, the
immigration-related abuse checklist, and hand-over; axe-core on each new page state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.test_staff_pages import Axe, Serve, _no_violations, sign_in
from tests.support.staff_world import StaffWorld, make_staff_world

from safereport.domain.risk import IMMIGRATION_ABUSE_CHECKLIST
from safereport.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[StaffWorld]:
    made = make_staff_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    yield made
    made.instance.close()


def test_caseworker_records_language_abuse_checklist_and_hands_over(
    world: StaffWorld, live_server: Serve, page: Any, axe_violations: Axe,
) -> None:
    filed = world.file("cw")
    base = live_server(create_app(world.instance))
    sign_in(page, base, world, "cw")
    page.goto(base + f"/staff/cases/{filed.case_id}")
    headings = page.locator("main h2").all_inner_texts()
    assert headings[0] == "Her account" and headings[1] == "Before you contact her"
    _no_violations(page, axe_violations)
    page.get_by_text("Record her language and interpreter needs").click()
    page.get_by_label("Her language").fill("Arabic; reads little English")
    page.get_by_label("Needs an interpreter").check()
    page.get_by_label("A female interpreter").check()
    page.get_by_label("Not an interpreter from her own community").check()
    page.get_by_role("button", name="Save language and interpreter needs").click()
    assert page.locator('[data-field="language"]').inner_text() == \
        "Arabic; reads little English"
    assert "A female interpreter" in page.locator('[data-field="interpreter"]').inner_text()
    _no_violations(page, axe_violations)
    page.get_by_role("link", name="Immigration-related abuse checklist").click()
    _no_violations(page, axe_violations)
    for item in IMMIGRATION_ABUSE_CHECKLIST.items:
        page.locator(f"#q-{item.id}-yes").check()
    page.get_by_label("What she told you (optional)").fill("He keeps her passport.")
    page.get_by_role("button", name="Save her answers").click()
    answers = page.locator('[data-field="immigration_abuse"]').inner_text()
    assert IMMIGRATION_ABUSE_CHECKLIST.items[0].prompt in answers
    assert "He keeps her passport." in answers
    page.get_by_label("Assign or hand over to").select_option(label="Sup2")
    page.get_by_role("button", name="Assign").click()
    assert page.locator(".assignee").inner_text() == "Sup2"
    _no_violations(page, axe_violations)
    # a police officer of another organisation reading his own case: the sealed part once
    page.context.clear_cookies()
    police = world.file("officer", sensitive=False)
    sign_in(page, base, world, "officer")
    page.goto(base + f"/staff/cases/{police.case_id}")
    assert "F-sealed" in page.locator('[data-field="immigration_abuse"]').inner_text()
    assert page.get_by_role("link", name="Immigration-related abuse checklist").count() == 0
    _no_violations(page, axe_violations)


def test_closing_with_a_reason_and_the_funders_return(
    world: StaffWorld, live_server: Serve, page: Any, axe_violations: Axe,
) -> None:
    filed = world.file("sup1")
    base = live_server(create_app(world.instance))
    sign_in(page, base, world, "sup1")
    page.goto(base + f"/staff/cases/{filed.case_id}")
    page.get_by_label("Change status to").select_option("closed")
    page.get_by_label("Why it is closed (needed to close it)").select_option("declined")
    page.get_by_role("button", name="Change status").click()
    assert page.locator(".case-status").inner_text() == "closed: She declined support"
    page.get_by_role("link", name="Returns").first.click()
    assert "New cases" in page.locator("table.returns").inner_text()
    _no_violations(page, axe_violations)
    page.get_by_label("By").select_option("month")
    page.get_by_role("button", name="Show").click()
    assert page.locator("table.returns thead th").count() == 13
    _no_violations(page, axe_violations)


def test_a_safety_plan_action_with_owner_and_date(
    world: StaffWorld, live_server: Serve, page: Any, axe_violations: Axe,
) -> None:
    filed = world.file("cw")
    base = live_server(create_app(world.instance))
    sign_in(page, base, world, "cw")
    page.goto(base + f"/staff/cases/{filed.case_id}")
    page.get_by_label("Action", exact=True).fill("Fit a panic alarm")
    page.get_by_label("Who owns it").select_option(label="Sup1")
    page.get_by_label("By (date)").fill("2026-12-24")
    page.get_by_role("button", name="Add to the safety plan").click()
    plan = page.locator("table.safety-plan").inner_text()
    assert "Fit a panic alarm" in plan and "Sup1" in plan and "24 Dec 2026" in plan
    _no_violations(page, axe_violations)
    page.get_by_role("button", name="Mark done").click()
    assert "done" in page.locator("table.safety-plan").inner_text()
