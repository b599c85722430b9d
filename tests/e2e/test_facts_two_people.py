"""POLICY.md v2 in Chromium: her own request from her return page, and a consent recorded in
person that counts only once a second member of staff confirms it; axe-core on every page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.e2e.test_staff_pages import _no_violations as _clean
from tests.e2e.test_staff_pages import sign_in
from tests.support.staff_world import StaffWorld

from safereport.services import provenance
from safereport.services.claim import claim_case
from safereport.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Axe = Callable[[Any], list[dict[str, Any]]]
Serve = Callable[[Any], str]


def test_her_request_from_her_page(staff_world: StaffWorld, live_server: Serve, browser: Any,
                                   axe_violations: Axe) -> None:
    world = staff_world
    filed = world.file("cw")
    claimed = claim_case(world.instance, filed.claim_code)
    base = live_server(create_app(world.instance))
    her = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
    her.goto(base + "/return")
    her.get_by_label("Your codename").fill(claimed.codename)
    her.get_by_role("button", name="Open", exact=True).click()
    her.get_by_role("link", name="Ask us to send your information").click()
    _clean(her, axe_violations)
    her.get_by_role("button", name="Send my request").click()
    assert "Please choose where" in her.locator(".error-summary").inner_text()
    _clean(her, axe_violations)
    her.get_by_label("Housing services, to help keep you safe").check()
    her.get_by_label("Your address").check()
    her.get_by_role("button", name="Send my request").click()
    assert "Your request has been sent" in her.locator("main").inner_text()
    _clean(her, axe_violations)
    (asked,) = provenance.case_facts(world.instance, world.users["cw"],
                                     filed.case_id).standing_requests
    assert asked.source.value == "subject" and asked.stands
    her.get_by_role(
        "button", name="Withdraw my request: Housing services, to help keep you safe").click()
    assert "withdrawn" in her.locator("main").inner_text()
    her.context.close()


def test_consent_recorded_in_person_needs_a_second_person(
        staff_world: StaffWorld, live_server: Serve, browser: Any, axe_violations: Axe) -> None:
    world = staff_world
    filed = world.file("cw")
    base = live_server(create_app(world.instance))
    first = browser.new_context().new_page()
    sign_in(first, base, world, "cw")
    first.goto(base + f"/staff/cases/{filed.case_id}")
    first.get_by_text("Record a consent she gave you in person").click()
    first.get_by_label("She agreed that her details may go").select_option(
        "local_authority/safeguarding")
    first.get_by_role("button", name="Record her consent").click()
    table = first.locator("#facts ~ .table-wrap").first.inner_text()
    assert "waiting for a second person" in table and "a colleague must confirm it" in table
    assert first.get_by_role("button", name="Confirm: I know she said this").count() == 0
    _clean(first, axe_violations)
    second = browser.new_context().new_page()
    sign_in(second, base, world, "sup1")
    second.goto(base + f"/staff/cases/{filed.case_id}")
    second.get_by_role("button", name="Confirm: I know she said this").click()
    table = second.locator("#facts ~ .table-wrap").first.inner_text()
    assert "counts" in table and "confirmed by Sup1" in table
    _clean(second, axe_violations)
    first.context.close()
    second.context.close()
