"""Staff pages in Chromium: TOTP sign-in, reading a case, the firewall and npcc-2020 decisions
on a police request to Immigration Enforcement, the two-supervisor approval, axe-core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, update
from tests.support.staff_world import PASSWORD, StaffWorld, make_staff_world

from safereport.store.core import users
from safereport.store.ledger import ledger_entries
from safereport.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Axe = Callable[[Any], list[dict[str, Any]]]
Serve = Callable[[Any], str]


def _world(tmp_path: Path, regime: str = "firewall") -> StaffWorld:
    return make_staff_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}", regime=regime)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[StaffWorld]:
    made = _world(tmp_path)
    yield made
    made.instance.close()


@pytest.fixture
def npcc_world(tmp_path: Path) -> Iterator[StaffWorld]:
    made = _world(tmp_path, "npcc-2020")
    yield made
    made.instance.close()


def sign_in(page: Any, base: str, world: StaffWorld, username: str) -> None:
    page.goto(base + "/staff/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(
        pyotp.TOTP(world.secrets[username]).now())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/staff/")


def _no_violations(page: Any, axe_violations: Axe) -> None:
    found = axe_violations(page)
    assert found == [], [(v["id"], v["nodes"][0]["html"][:120]) for v in found]


def test_totp_sign_in_and_enrolment(world: StaffWorld, live_server: Serve, page: Any,
                                    axe_violations: Axe) -> None:
    base = live_server(create_app(world.instance))
    page.goto(base + "/staff/sign-in")
    _no_violations(page, axe_violations)
    # a wrong code is refused
    page.get_by_label("Username").fill("cw")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    assert "not right" in page.locator("[role=alert]").inner_text()
    sign_in(page, base, world, "cw")
    assert "Hello, Cw" in page.locator("h1").inner_text()
    _no_violations(page, axe_violations)
    # a new account enrols: the QR code is inline SVG drawn by the server
    with world.instance.engine.begin() as conn:
        conn.execute(update(users).where(users.c.username == "sup2").values(totp_secret=None))
    other = page.context.browser.new_context().new_page()
    other.goto(base + "/staff/sign-in")
    other.get_by_label("Username").fill("sup2")
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_role("button", name="Sign in").click()
    other.wait_for_url(base + "/staff/totp")
    assert other.locator("figure svg title").text_content().startswith("QR code")
    _no_violations(other, axe_violations)
    secret = other.locator(".totp-secret").inner_text().replace(" ", "")
    other.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).now())
    other.get_by_role("button", name="Confirm").click()
    other.wait_for_url(base + "/staff/")
    other.context.close()


def test_caseworker_reads_a_case_and_pages_pass_axe(world: StaffWorld, live_server: Serve,
                                                    page: Any, axe_violations: Axe) -> None:
    filed = world.file("cw")
    base = live_server(create_app(world.instance))
    sign_in(page, base, world, "cw")
    page.get_by_role("link", name="Cases", exact=True).first.click()
    _no_violations(page, axe_violations)
    page.get_by_role("link", name=filed.reference).click()
    assert page.locator('[data-field="name"]').inner_text() == "Maria Exemplo"
    assert page.locator('[data-field="immigration_status"]').inner_text() == \
        "spousal visa expired"
    _no_violations(page, axe_violations)
    page.get_by_label("New note").fill("Spoke by phone; safe on Tuesdays.")
    page.get_by_role("button", name="Add note").click()
    assert "safe on Tuesdays" in page.locator(".messages").inner_text()
    for path in (f"/staff/cases/{filed.case_id}/risk", f"/staff/cases/{filed.case_id}/disclose",
                 "/staff/cases/new", "/staff/inbox", "/staff/search?kind=phone&q=07700900123"):
        page.goto(base + path)
        _no_violations(page, axe_violations)
    # filing for someone shows the claim code once; refused pages say why
    page.goto(base + "/staff/cases/new")
    page.get_by_label("Narrative").fill("Filed from the browser test.")
    page.get_by_role("button", name="File the report").click()
    assert page.locator(".claim-code").inner_text().strip()
    _no_violations(page, axe_violations)
    page.goto(base + "/staff/audit")
    assert "Not allowed" in page.locator("h1").inner_text()
    _no_violations(page, axe_violations)
    page.goto(base + "/staff/cases/00000000000000000000000000000000")
    assert "no such case" in page.locator("[role=alert]").inner_text()
    _no_violations(page, axe_violations)
    # the risk checklist: 14 yes answers -> high and a MARAC prompt
    page.goto(base + f"/staff/cases/{filed.case_id}/risk")
    for n, item in enumerate(page.locator("fieldset.risk-item").all()):
        item.get_by_label("Yes" if n < 14 else "No", exact=True).check()
    page.get_by_role("button", name="Save the assessment").click()
    assert "Risk level: high" in page.locator("h1").inner_text()
    assert page.get_by_role("link", name="Make a MARAC referral").is_visible()
    _no_violations(page, axe_violations)


def _ask_ie(page: Any, base: str, world: StaffWorld, case_id: str) -> None:
    page.goto(base + f"/staff/cases/{case_id}/disclose")
    page.get_by_label("Recipient").select_option(world.orgs["ie"])
    page.get_by_label("Purpose").select_option("immigration_enforcement")
    for category in ("identity", "address", "immigration_status"):
        page.locator(f"#cat-{category}").check()
    page.get_by_label("What is known of the person's immigration status").select_option(
        "suspected")
    page.get_by_role("button", name="Ask for a decision").click()
    page.wait_for_url(base + "/staff/disclosures/*")


def _entries(world: StaffWorld) -> list[tuple[str, str, str]]:
    with world.instance.engine.connect() as conn:
        rows = conn.execute(select(ledger_entries.c.action, ledger_entries.c.recipient,
                                   ledger_entries.c.effect).order_by(ledger_entries.c.idx))
        return [tuple(r) for r in rows]


def test_police_to_immigration_enforcement_denied_under_firewall(
        world: StaffWorld, live_server: Serve, page: Any, axe_violations: Axe) -> None:
    filed = world.file("officer", sensitive=False)
    base = live_server(create_app(world.instance))
    sign_in(page, base, world, "officer")
    _ask_ie(page, base, world, filed.case_id)
    assert page.locator(".disclosure-status").inner_text() == "denied"
    assert "F-firewall" in page.locator(".decision-rules").inner_text()
    assert page.locator(".decision-reasons li").count() >= 1
    assert "nothing was released" in page.locator(".warning").inner_text()
    _no_violations(page, axe_violations)
    assert ("disclose", "immigration_enforcement", "deny") in _entries(world)
    # police liaison: ask a support service to consider a disclosure
    page.goto(base + "/staff/asks")
    page.get_by_label("Case reference the person gave you").fill("ABC234")
    page.get_by_label("Purpose").select_option("safeguarding")
    page.get_by_label("Contact details", exact=True).check()
    page.get_by_role("button", name="Send the request").click()
    assert "Sent." in page.locator("[role=status]").inner_text()
    _no_violations(page, axe_violations)


def test_npcc_requires_the_justification_before_release(
        npcc_world: StaffWorld, live_server: Serve, page: Any, axe_violations: Axe) -> None:
    world = npcc_world
    filed = world.file("officer", sensitive=False)
    base = live_server(create_app(world.instance))
    sign_in(page, base, world, "officer")
    _ask_ie(page, base, world, filed.case_id)
    assert page.locator(".disclosure-status").inner_text() == "needs justification"
    assert page.locator(".decision-effect").inner_text() == "conditional"
    assert "Nothing has been released yet" in page.locator(".warning").inner_text()
    assert "N-contact-ie" in page.locator(".decision-rules").inner_text()
    _no_violations(page, axe_violations)
    before = _entries(world)
    page.get_by_label("Written justification").fill("Named in a trafficking investigation.")
    page.get_by_role("button", name="Record the justification").click()
    assert page.locator(".disclosure-status").inner_text() == "released"
    # the written reason is a write to her case, decided and recorded with it; then the release
    assert _entries(world)[len(before):] == [
        ("update", "none", "allow"), ("disclose", "immigration_enforcement", "conditional")]


def test_two_supervisor_approval(world: StaffWorld, live_server: Serve, browser: Any,
                                 axe_violations: Axe) -> None:
    filed = world.file("sup1")
    base = live_server(create_app(world.instance))
    first = browser.new_context().new_page()
    sign_in(first, base, world, "sup1")
    first.goto(base + f"/staff/cases/{filed.case_id}/disclose?purpose=marac"
               f"&recipient_org={world.orgs['marac']}")
    first.get_by_label("Who she is", exact=True).check()
    first.get_by_label("Risk assessment", exact=True).check()
    first.get_by_label("Justification").fill("High risk; MARAC on Thursday.")
    first.get_by_role("button", name="Ask for a decision").click()
    first.wait_for_url(base + "/staff/disclosures/*")
    url = first.url
    assert first.locator(".disclosure-status").inner_text() == "needs approval"
    assert "second, different supervisor" in first.locator(".outstanding").inner_text()
    # the supervisor who asked is offered no approval
    assert first.get_by_role("button", name="Approve as second supervisor").count() == 0
    second = browser.new_context().new_page()
    sign_in(second, base, world, "sup2")
    second.get_by_role("link", name="Approvals").first.click()
    _no_violations(second, axe_violations)
    second.get_by_role("link", name=filed.reference).click()
    assert "High risk; MARAC on Thursday." in second.locator("main").inner_text()
    second.get_by_role("button", name="Approve as second supervisor").click()
    assert second.locator(".disclosure-status").inner_text() == "released"
    first.goto(url)
    assert "Sup2" in first.locator("main").inner_text()
    first.context.close()
    second.context.close()


def test_auditor_pages(world: StaffWorld, live_server: Serve, page: Any,
                       axe_violations: Axe) -> None:
    filed = world.file("officer", sensitive=False)
    base = live_server(create_app(world.instance))
    sign_in(page, base, world, "officer")
    _ask_ie(page, base, world, filed.case_id)
    page.context.clear_cookies()
    sign_in(page, base, world, "auditor")
    page.get_by_role("link", name="Audit").first.click()
    assert "Verified" in page.locator(".verification").inner_text()
    assert "F-firewall" in page.locator("table.denied").inner_text()
    assert "Maria" not in page.content() and filed.case_id not in page.content()
    _no_violations(page, axe_violations)
