"""Issue 15, in Debian's Chromium on a 360 px phone, with and without JavaScript: where she
decides about the police she picks her force and reads what it said, nothing of her report is
sent or kept, Back and Reload replay nothing, and the page is axe-clean in every language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.e2e import test_victim_history as _history
from tests.support.victim_world import World

from safereport.services.intake import parse_submission, submit_report
from safereport.store.core import cases
from safereport.web.app import create_app
from safereport.web.i18n import LANGUAGES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NARRATIVE = "Synthetic: NARRATIVE-SECRET he keeps my passport."
KENT_2023 = "Between April 2020 and March 2023 this force passed the details"

Axe = Callable[[Any], list[dict[str, Any]]]

# The history journey's fixtures: a world, and a 360 px touch phone with JavaScript on or off
# whose requests stay on 127.0.0.1.
world = _history.world
phone = _history.phone


def _count(world: World) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cases)).scalar_one())


def _fits(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (
        "wider than a 360 px screen")


@pytest.mark.parametrize("phone", [True, False], ids=["js", "nojs"], indirect=True)
def test_she_reads_what_her_force_said_and_nothing_is_sent(
        phone: Any, world: World, live_server: Callable[[Any], str],
        request: pytest.FixtureRequest) -> None:
    javascript = request.node.callspec.id == "js"
    base = live_server(create_app(world.instance))
    posts: list[str] = []
    phone.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    phone.goto(base + "/report")
    phone.locator("#f-narrative").fill(NARRATIVE)
    phone.locator("#f-force").select_option("kent-police")
    before = phone.evaluate("history.length")
    phone.get_by_role("button", name="Show what this force said").click()
    said = phone.locator(".force-said")
    said.wait_for()
    assert KENT_2023 in said.inner_text() and "9 November 2023" in said.inner_text()
    assert "Kent Police" in said.get_by_role("heading").inner_text()
    assert phone.locator("#f-narrative").input_value() == NARRATIVE  # what she typed is there
    assert _count(world) == 0  # nothing was sent
    _fits(phone)
    if javascript:
        # fetched into the page: no form sent, no new page in her history
        assert posts == [] and phone.evaluate("history.length") == before
        assert phone.url == base + "/report"
        return
    assert phone.url.endswith("/report#police-law")
    phone.reload()  # the browser sends the form again: its token is spent, nothing comes back
    phone.get_by_role("heading", name="This page has closed").wait_for()
    assert NARRATIVE not in phone.content()
    phone.go_back()
    assert NARRATIVE not in phone.content()
    assert _count(world) == 0


@pytest.mark.parametrize("phone", [True], ids=["js"], indirect=True)
def test_enter_in_a_field_still_goes_on_with_her_report(
        phone: Any, world: World, live_server: Callable[[Any], str]) -> None:
    """The first submit control is "Show what this force said": Enter must not stop there."""
    base = live_server(create_app(world.instance))
    phone.goto(base + "/report")
    phone.locator("#mode-codename").check()
    phone.locator("#crime-domestic_abuse").check()
    phone.locator("#f-narrative").fill(NARRATIVE)
    phone.locator("#f-location").fill("at home")
    phone.locator("#f-location").press("Enter")
    phone.wait_for_url(lambda url: "/report" not in url)
    assert phone.locator(".force-said").count() == 0


@pytest.mark.parametrize("phone", [False], ids=["nojs"], indirect=True)
def test_the_police_consent_page_shows_her_force_without_javascript(
        phone: Any, world: World, live_server: Callable[[Any], str]) -> None:
    receipt = submit_report(world.instance, parse_submission(
        {"mode": "codename", "crime_type": "domestic_abuse", "narrative": NARRATIVE}))
    assert receipt.codename is not None
    base = live_server(create_app(world.instance))
    phone.goto(base + "/return")
    phone.locator("#f-codename").fill(receipt.codename)
    phone.get_by_role("button", name="Open").click()
    phone.get_by_role("button", name="Change: The police, so that they can investigate the crime"
                      ).click()
    assert "UK law does not stop them" in phone.locator("#police-law").inner_text()
    phone.locator("#f-force").select_option("psni")
    phone.get_by_role("button", name="Show what this force said").click()
    said = phone.locator(".force-said")
    assert "Police Service of Northern Ireland" in said.inner_text()
    assert "covered England and Wales only" in said.inner_text()
    _fits(phone)
    phone.get_by_role("button", name="Yes, I agree").click()
    phone.get_by_text("Your choice has been saved.").wait_for()


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_what_her_force_said_is_clean_in_every_language(
        lang: str, world: World, live_server: Callable[[Any], str], page: Any,
        axe_violations: Axe) -> None:
    base = live_server(create_app(world.instance))
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{base}/report?lang={lang}")
    page.locator("#f-force").select_option("police-scotland")
    page.locator("input[data-police-show]").click()
    page.locator(".force-said").wait_for()
    problems = [f"{v['id']}: {v['help']}" for v in axe_violations(page)]
    assert problems == [], lang
    assert page.evaluate("document.documentElement.lang") == lang
    assert page.evaluate("document.documentElement.dir") == LANGUAGES[lang].direction
    _fits(page)
    if lang != "en":
        assert "Show what this force said" not in page.content()
