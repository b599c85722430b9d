"""Issue 17 in Chromium: no dead ends for any recipient.

A MARAC member reads a released referral; a supervisor refuses one with a reason and the
requester sees it; an officer sees why his ask failed; a caseworker finds a web report by its
reference. axe-core finds no serious or critical violation on any of these pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.test_staff_pages import Axe, Serve, _no_violations, sign_in
from tests.support.staff_world import StaffWorld, make_staff_world

from safereport.domain.vocabulary import DataCategory, Purpose, StatusEvidence
from safereport.services import disclosure
from safereport.services.disclosure import DisclosureForm
from safereport.services.intake import parse_submission, submit_report
from safereport.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[StaffWorld]:
    made = make_staff_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    yield made
    made.instance.close()


def _marac_request(world: StaffWorld) -> tuple[str, str]:
    filed = world.file("sup1")
    request_id = disclosure.request_disclosure(world.instance, world.users["sup1"], DisclosureForm(
        case_id=filed.case_id, recipient_org_id=world.orgs["marac"], purpose=Purpose.MARAC,
        categories=frozenset({DataCategory.IDENTITY, DataCategory.CRIME_DETAILS}),
        justification="High risk; MARAC on Thursday."))
    return filed.reference, request_id


def test_a_marac_member_reads_a_released_referral(world: StaffWorld, live_server: Serve,
                                                  page: Any, axe_violations: Axe) -> None:
    _, request_id = _marac_request(world)
    disclosure.approve(world.instance, world.users["sup2"], request_id)
    base = live_server(create_app(world.instance))
    sign_in(page, base, world, "marac")
    page.get_by_role("link", name="Inbox").first.click()
    assert page.get_by_role("button", name="Take into our casework").count() == 0
    _no_violations(page, axe_violations)
    page.get_by_role("link", name="Read it").first.click()
    main = page.locator("main").inner_text()
    assert "He took my passport and hit me." in main and "Maria Exemplo" in main
    assert main.index("What happened, in her words") < main.index("Name")
    assert "What you may do with it" in main and "MARAC meeting" in main
    assert "recorded in the log" in main
    _no_violations(page, axe_violations)


def test_a_supervisor_refuses_with_a_reason_and_the_requester_sees_it(
    world: StaffWorld, live_server: Serve, browser: Any, axe_violations: Axe,
) -> None:
    reference, request_id = _marac_request(world)
    base = live_server(create_app(world.instance))
    second = browser.new_context().new_page()
    sign_in(second, base, world, "sup2")
    second.get_by_role("link", name="Approvals").first.click()
    second.get_by_role("link", name=reference).click()
    _no_violations(second, axe_violations)
    second.get_by_label("Why you refuse it").fill("She is safe in a refuge; MARAC adds risk.")
    second.get_by_role("button", name="Refuse it").click()
    assert second.locator(".disclosure-status").inner_text() == "refused"
    first = browser.new_context().new_page()
    sign_in(first, base, world, "sup1")
    first.goto(base + f"/staff/disclosures/{request_id}")
    main = first.locator("main").inner_text()
    assert "Refused by the approver" in main and "Sup2" in main
    assert "She is safe in a refuge; MARAC adds risk." in main
    assert first.get_by_role("button", name="Approve as second supervisor").count() == 0
    _no_violations(first, axe_violations)
    first.context.close()
    second.context.close()


def test_an_officer_sees_why_his_ask_failed(world: StaffWorld, live_server: Serve, page: Any,
                                            axe_violations: Axe) -> None:
    filed = world.file("cw")
    wanted = frozenset({DataCategory.ADDRESS, DataCategory.IMMIGRATION_STATUS})
    officer, cw = world.users["officer"], world.users["cw"]
    ask_id = disclosure.ask_for_disclosure(
        world.instance, officer, holder_org_id=world.orgs["support"], reference=filed.reference,
        purpose=Purpose.IMMIGRATION_ENFORCEMENT, categories=wanted)
    disclosure.answer_ask(world.instance, cw, ask_id, DisclosureForm(
        case_id=filed.case_id, recipient_org_id=world.orgs["police"],
        purpose=Purpose.IMMIGRATION_ENFORCEMENT, categories=wanted,
        status_evidence=StatusEvidence.SUSPECTED))
    base = live_server(create_app(world.instance))
    sign_in(page, base, world, "cw")
    page.get_by_role("link", name="Requests").first.click()
    # a second ask is declined from the page, with a reason
    disclosure.ask_for_disclosure(
        world.instance, officer, holder_org_id=world.orgs["support"], reference=filed.reference,
        purpose=Purpose.SAFEGUARDING, categories=[DataCategory.CONTACT])
    page.reload()
    _no_violations(page, axe_violations)
    page.get_by_label("Reason for declining (the asker reads it)").fill(
        "Ask her caseworker at Thursday's MARAC instead.")
    page.get_by_role("button", name="Decline").click()
    assert "Declined" in page.locator("[role=status]").inner_text()
    page.context.clear_cookies()
    sign_in(page, base, world, "officer")
    page.get_by_role("link", name="Requests").first.click()
    outcomes = page.locator("table.asks-sent").inner_text()
    assert "(answered)" not in outcomes
    assert "Refused under the policy: nothing was sent." in outcomes
    assert "immigration" in outcomes.lower()
    assert "Declined by Safe Haven Support." in outcomes
    assert "Ask her caseworker at Thursday's MARAC instead." in outcomes
    _no_violations(page, axe_violations)


def test_a_caseworker_finds_a_web_report_by_its_reference(
    world: StaffWorld, live_server: Serve, page: Any, axe_violations: Axe,
) -> None:
    receipt = submit_report(world.instance, parse_submission(
        {"mode": "anonymous", "crime_type": "domestic_abuse",
         "narrative": "Synthetic report made on the website."}))
    world.file("cw")  # another case, which must not match
    base = live_server(create_app(world.instance))
    sign_in(page, base, world, "cw")
    page.get_by_role("link", name="Cases", exact=True).first.click()
    listed = page.get_by_role("link", name=receipt.reference)
    assert listed.count() == 1
    page.get_by_label("Search by").select_option("reference")
    page.get_by_label("Exact value").fill(receipt.reference)
    page.get_by_role("button", name="Search").click()
    assert page.locator("caption").inner_text() == "1 case"
    assert page.get_by_role("link", name=receipt.reference).count() == 1
    _no_violations(page, axe_violations)
    page.get_by_role("link", name=receipt.reference).click()
    assert "Synthetic report made on the website." in page.locator("main").inner_text()
