"""Issue 19 in Chromium: the staff quarantine page and a held report, axe-clean, keyboard only.

A caseworker finds the quarantine from the menu, opens a held report (in Arabic: the words
read right to left where they are shown), reads which words weighed, and releases it with the
keyboard alone; the report is then in the case list.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.e2e.only_here import only_here  # noqa: F401  (the fixture, by name below)
from tests.e2e.test_staff_pages import Axe, Serve, _no_violations, sign_in
from tests.support.staff_world import StaffWorld

from safereport.domain.spam_corpus import corpus
from safereport.services import casework, intake, quarantine
from safereport.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("only_here")]


def _submit(world: StaffWorld, text: str, suspicion: str | None = None) -> str:
    submission = intake.parse_submission({"mode": "anonymous", "crime_type": "domestic_abuse",
                                          "narrative": text, "language": "ar"})
    return intake.submit_report(world.instance, submission, suspicion=suspicion).case_id


def test_the_quarantine_page_is_axe_clean_and_works_by_keyboard(
    staff_world: StaffWorld, live_server: Serve, page: Any, axe_violations: Axe,
) -> None:
    world = staff_world
    samples = corpus(3, 12)
    for text in [s.text for s in samples if s.spam][:10]:
        quarantine.mark_not_real(world.instance, world.users["cw"],
                                 _submit(world, text, "honeypot"))
    for text in [s.text for s in samples if not s.spam][:6]:
        quarantine.release(world.instance, world.users["cw"],
                           _submit(world, text, "form_sent_twice"))
    held = _submit(world, "اربح ٥٠٠٠ دولار أسبوعيا من البيت، اضغط http://mal.example "
                          "مكافأة كازينو ولفات مجانية اليوم فقط www.casino.example")
    assert held in {h.case_id for h in quarantine.list_held(world.instance,
                                                           world.users["cw"])[0]}
    base = live_server(create_app(world.instance))
    sign_in(page, base, world, "cw")
    page.get_by_role("link", name="Quarantine").click()
    page.wait_for_url("**/staff/quarantine")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Quarantine")
    _no_violations(page, axe_violations)
    reference = next(h.reference for h in quarantine.list_held(world.instance,
                                                                world.users["cw"])[0]
                     if h.case_id == held)
    page.get_by_role("link", name=reference).focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/staff/quarantine/{held}")
    spam_words = page.locator("table[data-weights=spam] td[dir=auto]").all_inner_texts()
    assert "كازينو" in spam_words or "a web link" in spam_words
    _no_violations(page, axe_violations)
    page.get_by_role("button", name="Release: this is a real report").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/quarantine?done=released")
    assert "Released" in page.get_by_role("status").inner_text()
    _no_violations(page, axe_violations)
    assert held in {c.id for c in casework.list_cases(world.instance, world.users["cw"])}
