"""Issue 19 in Chromium, the parts people meet when the defences act: axe-core finds nothing on
the "Please wait" page (the form without JavaScript, sent too soon) or on the "This can take a
few seconds" status (with JavaScript, sent before the work is done), in English and in Arabic
(right to left); and she sends a report in Arabic with the keyboard alone (Tab, arrows, Space,
Enter; no clicks), with JavaScript and without it, through the wait.

Every request the browser makes goes through the guard (tests/e2e/only_here.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
Serve = Callable[[Any], str]
_NARRATIVE_AR = "اصطناعي: يقرأ رسائلي كل ليلة ويأخذ هاتفي."
#: "...then press the button again", as the Arabic wait page says it.
_PRESS_AGAIN_AR = "ثم اضغطي الزر مرة أخرى"
_STATUS = {"en": "This can take a few seconds"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    # A wait long enough that, without a fresh solution, every form meets the wait page.
    made = make_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}",
                      settings={"form_wait_seconds": 600, "form_pow_max_number": 20000})
    yield made
    made.instance.close()


def _cases(world: World) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cases)).scalar_one())


def _clean(page: Any, axe_violations: Axe, where: str) -> None:
    found = axe_violations(page)
    assert found == [], (where, [(v["id"], v["nodes"][0]["html"][:120]) for v in found])


def _fill_by_mouse(page: Any, lang: str) -> None:
    page.locator("#mode-anonymous").check()
    page.locator("#crime-other").check()
    page.locator("#f-narrative").fill(_NARRATIVE_AR if lang == "ar" else "Synthetic: he "
                                      "reads my messages every night.")


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_the_wait_page_and_the_working_status_are_axe_clean(
    lang: str, world: World, live_server: Serve, page: Any, page_nojs: Any,
    axe_violations: Axe,
) -> None:
    base = live_server(create_app(world.instance))
    # With JavaScript, the challenge held back: she presses the button, the status shows.
    held: list[Any] = []
    page.route("**/forms/challenge", lambda route: held.append(route))
    page.goto(f"{base}/report?lang={lang}")
    _fill_by_mouse(page, lang)
    page.locator("form button[type=submit]").click()
    status = page.locator(".pow-wait[role=status]")
    status.wait_for(state="visible")
    assert held, "the script did not ask for a challenge"
    if lang in _STATUS:
        assert _STATUS[lang] in status.inner_text()
    else:
        assert status.inner_text().strip() and "This can take" not in status.inner_text()
    assert page.locator("form button[type=submit][aria-busy=true]").count() == 1
    assert page.evaluate("document.documentElement.dir") == ("rtl" if lang == "ar" else "ltr")
    _clean(page, axe_violations, "the working status")
    # Without JavaScript, sent at once: the wait page, calm, in her language, nothing lost.
    before = _cases(world)
    page_nojs.goto(f"{base}/report?lang={lang}")
    _fill_by_mouse(page_nojs, lang)
    page_nojs.locator("form button[type=submit]").click()
    page_nojs.wait_for_load_state()
    said = page_nojs.locator("[role=alert], [role=status]").all_inner_texts()
    assert any((_PRESS_AGAIN_AR if lang == "ar" else "Please wait") in s for s in said), said
    assert page_nojs.locator("#mode-anonymous").is_checked()
    assert page_nojs.evaluate("document.documentElement.dir") == (
        "rtl" if lang == "ar" else "ltr")
    assert _cases(world) == before
    # axe-core needs timers, which a page without JavaScript never runs: the wait page as
    # served is audited in the page with JavaScript, at an address of this server.
    served = page_nojs.content()
    page.route(f"{base}/wait-page-as-served", lambda route: route.fulfill(
        status=200, content_type="text/html; charset=utf-8", body=served))
    page.goto(f"{base}/wait-page-as-served")
    assert (_PRESS_AGAIN_AR if lang == "ar" else "Please wait") in page.inner_text("body")
    _clean(page, axe_violations, "the wait page")


def _focused(page: Any, css: str) -> bool:
    return bool(page.locator(f"{css}:focus").count())


def _tab_to(page: Any, css: str, limit: int = 160) -> None:
    """Tab forward until ``css`` has the focus (as a keyboard user moves through the page)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if _focused(page, css):
            return
    raise AssertionError(f"the Tab key never reached {css}")


def _choose(page: Any, group: str, target: str) -> None:
    """Tab into a radio group, then the arrow keys to ``target``, and Space (as she would)."""
    _tab_to(page, f"input[type=radio][name={group}]")
    for _ in range(20):
        if _focused(page, target):
            break
        page.keyboard.press("ArrowDown")
    assert _focused(page, target), target
    page.keyboard.press("Space")
    assert page.locator(target).is_checked()


def _report_by_keyboard(page: Any, base: str) -> None:
    page.goto(f"{base}/report?lang=ar")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    page.locator("body").focus()
    _choose(page, "mode", "#mode-anonymous")
    _choose(page, "crime_type", "#crime-other")
    _tab_to(page, "#f-narrative")
    page.keyboard.type(_NARRATIVE_AR)
    _tab_to(page, "form button[type=submit]")
    page.keyboard.press("Enter")


def _send_checked_by_keyboard(page: Any) -> None:
    page.wait_for_url("**/return/check**")
    page.locator("body").focus()
    _tab_to(page, "form[action='/return/check'] button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/return/new**")


def test_keyboard_only_in_arabic_with_javascript(
    world: World, live_server: Serve, page: Any,
) -> None:
    base = live_server(create_app(world.instance))
    before = _cases(world)
    _report_by_keyboard(page, base)
    _send_checked_by_keyboard(page)
    assert _cases(world) == before + 1


def test_keyboard_only_in_arabic_without_javascript_through_the_wait(
    world: World, live_server: Serve, page_nojs: Any,
) -> None:
    clock = FakeClock(datetime.now(UTC) - timedelta(seconds=600))
    base = live_server(create_app(world.instance, clock=clock))
    # The app's clock stands before each form was issued, then moves on: no sleeping.
    before = _cases(world)
    page = page_nojs
    _report_by_keyboard(page, base)
    page.get_by_text(_PRESS_AGAIN_AR).wait_for()
    assert page.locator("#f-narrative").input_value() == _NARRATIVE_AR
    assert page.locator("#mode-anonymous").is_checked()
    assert page.locator("#crime-other").is_checked()
    assert _cases(world) == before
    clock.set(datetime.now(UTC) + timedelta(seconds=600))
    # She presses the button again, by keyboard, from the top of the page.
    page.locator("body").focus()
    _tab_to(page, "form button[type=submit]")
    page.keyboard.press("Enter")
    _send_checked_by_keyboard(page)
    assert _cases(world) == before + 1


def test_with_javascript_a_refused_challenge_falls_back_to_the_wait_not_a_dead_button(
    world: World, live_server: Serve, page: Any,
) -> None:
    """Under attack the challenge endpoint can answer 429: the script must then let the form
    go, and she meets the calm wait page, never a button that does nothing."""
    base = live_server(create_app(world.instance))
    page.route("**/forms/challenge", lambda route: route.fulfill(
        status=429, body="Too many", headers={"Retry-After": "60"}))
    page.goto(f"{base}/report?lang=en")
    _fill_by_mouse(page, "en")
    page.locator("form button[type=submit]").click()  # once: a second press must not be needed
    page.get_by_text("then press the button again").first.wait_for(timeout=15_000)
    assert _cases(world) == 0  # nothing stored before the wait is over
