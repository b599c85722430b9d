"""Issue 19 in Chromium: the honeypot is never met by keyboard or screen reader, axe finds
nothing, the proof-of-work runs from our own script (nothing leaves 127.0.0.1) and lets her
through at once, and without JavaScript the wait is asked calmly and loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.e2e.only_here import only_here  # noqa: F401  (the fixture, by name below)
from tests.support.victim_world import World, make_world

from safereport.services.clock import FakeClock
from safereport.store.core import cases
from safereport.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("only_here")]

Axe = Callable[[Any], list[dict[str, Any]]]
_NARRATIVE = "Synthetic: he reads my messages every night."


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    # A wait long enough that only the proof-of-work can get a report through at once.
    made = make_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}",
                      settings={"form_wait_seconds": 600, "form_pow_max_number": 20000})
    yield made
    made.instance.close()


def _cases(world: World) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cases)).scalar_one())


def _send_checked(page: Any) -> None:
    """Past the bot defences her answers wait on "Check your answers" (issue 18): she sends
    them from there, by keyboard."""
    page.wait_for_url("**/return/check**")
    page.locator("form[action='/return/check'] button[type=submit]").focus()
    page.keyboard.press("Enter")


def _tab_stops(page: Any, limit: int = 80) -> list[str]:
    """The id (or tag) of every element the Tab key reaches, from the top of the page."""
    page.locator("body").focus()
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stops.append(page.evaluate(
            "document.activeElement ? (document.activeElement.id || "
            "document.activeElement.name || document.activeElement.tagName) : ''"))
    return stops


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_people_never_meet_the_honeypot(
    lang: str, world: World, live_server: Callable[[Any], str], page: Any, axe_violations: Axe
) -> None:
    base = live_server(create_app(world.instance))
    page.set_viewport_size({"width": 360, "height": 740})
    for path in ("/report", "/return", "/claim"):
        page.goto(f"{base}{path}?lang={lang}")
        assert page.locator("#f-website").count() == 1
        # Not in the accessibility tree (aria-hidden), not a tab stop, not on the screen.
        assert page.get_by_role("textbox", name="Leave this empty").count() == 0
        stops = _tab_stops(page)
        assert "f-website" not in stops and "website" not in stops, path
        box = page.locator("#f-website").bounding_box()
        assert box is None or box["x"] + box["width"] <= 0 or box["x"] >= 360
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert axe_violations(page) == [], path


def test_with_javascript_the_proof_of_work_sends_her_report_at_once(
    world: World, live_server: Callable[[Any], str], page: Any, request: pytest.FixtureRequest
) -> None:
    base = live_server(create_app(world.instance))
    # every request of every page here goes through the guard: what it stopped, so far
    outside: list[str] = request.getfixturevalue("only_here")
    before = _cases(world)
    page.goto(f"{base}/report")
    page.locator("#mode-codename").check()
    page.locator("#crime-other").check()
    page.locator("#f-narrative").fill(_NARRATIVE)
    page.locator("form button[type=submit]").click()  # may be before the solution is found
    _send_checked(page)
    page.locator(".codename").wait_for()
    assert _cases(world) == before + 1
    assert outside == []
    # Keyboard only: the same, with Enter from the last field.
    page.goto(f"{base}/report")
    page.locator("#mode-anonymous").focus()
    page.keyboard.press("Space")
    page.locator("#crime-other").focus()
    page.keyboard.press("Space")
    page.locator("#f-narrative").focus()
    page.keyboard.type(_NARRATIVE)
    page.locator("form button[type=submit]").focus()
    page.keyboard.press("Enter")
    _send_checked(page)
    page.get_by_text("Your report has been sent").wait_for()
    assert _cases(world) == before + 2 and outside == []


def test_without_javascript_she_is_asked_to_wait_and_loses_nothing(
    world: World, live_server: Callable[[Any], str], page_nojs: Any,
) -> None:
    world.instance.settings = replace(world.instance.settings, form_wait_seconds=5)
    clock = FakeClock(datetime.now(UTC) - timedelta(seconds=10))
    base = live_server(create_app(world.instance, clock=clock))
    # The app's clock stands before each form was issued, then moves on: no sleeping.
    before = _cases(world)
    page = page_nojs
    page.goto(f"{base}/report?lang=ar")
    page.locator("#mode-anonymous").check()
    page.locator("#crime-other").check()
    page.locator("#f-narrative").fill(_NARRATIVE)
    page.locator("#f-location").fill("at home")
    page.locator("form button[type=submit]").click()
    # the page is in Arabic: "...then press the button again" in her language
    page.get_by_text("ثم اضغطي الزر مرة أخرى").wait_for()
    assert page.locator("#f-narrative").input_value() == _NARRATIVE
    assert page.locator("#f-location").input_value() == "at home"
    assert page.locator("#mode-anonymous").is_checked()
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert _cases(world) == before
    clock.set(datetime.now(UTC) + timedelta(seconds=10))
    page.locator("form button[type=submit]").click()
    _send_checked(page)
    page.wait_for_url("**/return/new**")
    assert _cases(world) == before + 1


def test_pressing_send_before_the_work_is_done_says_so_and_then_sends(
    world: World, live_server: Callable[[Any], str], page: Any
) -> None:
    base = live_server(create_app(world.instance))
    held: list[Any] = []
    # The challenge is held back, so the work cannot be done before she presses the button.
    page.route("**/forms/challenge", lambda route: held.append(route))
    before = _cases(world)
    page.goto(f"{base}/report")
    page.locator("#mode-anonymous").check()
    page.locator("#crime-other").check()
    page.locator("#f-narrative").fill(_NARRATIVE)
    page.locator("form button[type=submit]").click()
    status = page.get_by_role("status").filter(has_text="This can take a few seconds")
    status.wait_for()
    assert page.url.endswith("/report") and _cases(world) == before  # nothing sent yet
    assert held, "the script did not ask for a challenge"
    held[0].continue_()
    _send_checked(page)
    page.wait_for_url("**/return/new**")
    assert _cases(world) == before + 1
