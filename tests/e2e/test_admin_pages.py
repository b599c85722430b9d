"""The administrator's pages in Chromium (issue 20): axe-core clean; a second-factor reset
asked for by one admin changes nothing until a different admin confirms it; a one-time
password leads only to choosing a new one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from tests.e2e.test_staff_pages import _no_violations as _clean
from tests.e2e.test_staff_pages import sign_in
from tests.support.admins import add_admin
from tests.support.staff_world import PASSWORD, StaffWorld

from safereport.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Axe = Callable[[Any], list[dict[str, Any]]]
Serve = Callable[[Any], str]


def _password_only(page: Any, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(base + "/staff/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_admin_pages_and_the_two_person_factor_reset(
        staff_world: StaffWorld, live_server: Serve, browser: Any, axe_violations: Axe) -> None:
    world = staff_world
    add_admin(world)
    base = live_server(create_app(world.instance))
    first = browser.new_context().new_page()
    sign_in(first, base, world, "admin")
    first.get_by_role("link", name="Accounts").click()
    assert "Staff accounts" in first.locator("h1").inner_text()
    _clean(first, axe_violations)
    first.get_by_role("link", name="officer", exact=True).click()
    _clean(first, axe_violations)
    first.get_by_label("Why (for the record)").fill("Lost phone; rang the front desk")
    first.get_by_role("button", name="Ask for a reset of the second factor").click()
    assert "Nothing changes until a different administrator" in first.locator(
        ".notice").inner_text()
    assert first.get_by_role("button", name="Confirm reset of officer").count() == 0
    _clean(first, axe_violations)
    # Asked for, not confirmed: the password alone opens nothing, the old factor still works.
    officer = browser.new_context().new_page()
    _password_only(officer, base, "officer")
    assert "not right" in officer.locator(".error-summary").inner_text()
    sign_in(officer, base, world, "officer")
    assert officer.url == base + "/staff/"
    # A second administrator confirms.
    second = browser.new_context().new_page()
    sign_in(second, base, world, "admin2")
    second.goto(base + "/staff/admin")
    assert "Lost phone; rang the front desk" in second.locator("table.resets").inner_text()
    _clean(second, axe_violations)
    second.get_by_role("button", name="Confirm reset of officer").click()
    assert "second factor is removed" in second.locator(".notice").inner_text()
    assert "Not set up" in second.locator(".factor-state").inner_text()
    _clean(second, axe_violations)
    # Her session has ended; her password now leads to setting up a new authenticator.
    officer.goto(base + "/staff/cases")
    assert officer.url == base + "/staff/sign-in"
    _password_only(officer, base, "officer")
    officer.wait_for_url(base + "/staff/totp")
    assert officer.locator(".totp-secret").count() == 1
    # A one-time password: shown once, and it opens only the page to choose a new one.
    second.goto(base + "/staff/admin/account?username=cw")
    second.get_by_role("button", name="Reset cw's password").click()
    temporary = second.locator(".one-time-password").inner_text()
    _clean(second, axe_violations)
    cw = browser.new_context().new_page()
    cw.goto(base + "/staff/sign-in")
    cw.get_by_label("Username").fill("cw")
    cw.get_by_label("Password").fill(temporary)
    cw.get_by_label("Code from your authenticator app").fill(
        pyotp.TOTP(world.secrets["cw"]).now())
    cw.get_by_role("button", name="Sign in").click()
    cw.wait_for_url(base + "/staff/password")
    _clean(cw, axe_violations)
    cw.get_by_label("New password", exact=True).fill("cw's very own passphrase")
    cw.get_by_label("New password again").fill("cw's very own passphrase")
    cw.get_by_role("button", name="Save my password").click()
    cw.wait_for_url(base + "/staff/")
    for page in (first, second, officer, cw):
        page.context.close()
