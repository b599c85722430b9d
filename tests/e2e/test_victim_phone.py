"""The walk-through as a victim on a cheap phone (360 x 640, 2026-12-03), in Chromium: another
language keeps what she typed; a problem with her answers is brought into view; Copy says it
copied, and the quick exit empties the clipboard again."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.e2e.test_victim_flow import _local_only
from tests.support.victim_world import World, make_world

from safereport.store.core import cases
from safereport.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 360, "height": 640}
WORDS = "Synthetic: mój mąż zabrał mi paszport 😢"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = make_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    yield made
    made.instance.close()


@pytest.fixture
def base_url(world: World, live_server: Callable[[Any], str]) -> str:
    return live_server(create_app(world.instance))


def _case_count(world: World) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cases)).scalar_one())


def _in_view(page: Any, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and 0 <= box["y"] < PHONE["height"]


def test_another_language_keeps_what_she_typed(page: Any, base_url: str, world: World) -> None:
    page.set_viewport_size(PHONE)
    page.goto(f"{base_url}/report?lang=pl")
    page.locator("#mode-codename").check()
    page.locator("#f-narrative").fill(WORDS)
    page.locator("nav.languages a[hreflang=ro]").click()
    page.wait_for_function("document.documentElement.lang === 'ro'")
    assert page.locator("#f-narrative").input_value() == WORDS
    assert page.locator("#mode-codename").is_checked()
    assert _case_count(world) == 0  # nothing was sent
    # Enter in a field still continues with the report (no language became its default)
    page.locator("#crime-domestic_abuse").check()
    page.locator("#f-occurred").press("Enter")
    page.wait_for_url("**/return/check?lang=ro")
    assert WORDS in page.content()


def test_a_problem_with_her_answers_is_brought_into_view(page: Any, base_url: str) -> None:
    page.set_viewport_size(PHONE)
    page.goto(f"{base_url}/report?lang=pl")
    page.locator("form#answers button[type=submit]").click()  # nothing filled in
    page.locator("#error-summary").wait_for()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert _in_view(page, "#error-summary")


def test_copy_says_it_copied_and_the_quick_exit_empties_the_clipboard(
        browser: Any, base_url: str) -> None:
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"],
                                  viewport=PHONE)
    page = context.new_page()
    foreign = _local_only(page)  # the quick exit's neutral site is a local stand-in
    try:
        page.goto(f"{base_url}/report")
        page.locator("#mode-codename").check()
        page.locator("#crime-domestic_abuse").check()
        page.locator("#f-narrative").fill("Synthetic: he took my passport.")
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("button", name="Send my report").click()
        page.locator(".codename-card").wait_for()
        copy = page.locator("button.copy-card")
        copy.click()
        page.wait_for_function(
            "document.querySelector('button.copy-card').textContent.startsWith('Copied')")
        assert page.evaluate("navigator.clipboard.readText()") != ""
        page.locator("#quick-exit").click()
        page.wait_for_url("**left-for=neutral-site")
        assert page.evaluate("navigator.clipboard.readText()") == ""
        assert foreign == []
    finally:
        context.close()
