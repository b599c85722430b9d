"""axe-core on every victim page, in every language, on a phone-sized screen: no serious or
critical finding, ``lang`` and ``dir`` right, and nothing wider than the screen."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.victim_world import World, make_world

from safereport.web.app import create_app
from safereport.web.i18n import LANGUAGES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Axe = Callable[[Any], list[dict[str, Any]]]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = make_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    yield made
    made.instance.close()


def _check(page: Any, axe: Axe, where: str, found: dict[str, list[str]]) -> None:
    problems = [f"{v['id']}: {v['help']}" for v in axe(page)]
    lang = page.evaluate("document.documentElement.lang")
    wanted = LANGUAGES[lang].direction if lang in LANGUAGES else "?"
    if page.evaluate("document.documentElement.dir") != wanted:
        problems.append(f"dir is not {wanted} for lang={lang}")
    # On a cheap phone's screen nothing may stick out sideways (in RTL that once hid the page).
    if page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"):
        problems.append("the page is wider than a 360 px screen")
    if page.evaluate("window.scrollX !== 0"):
        problems.append("the page opens scrolled sideways")
    if problems:
        found[where] = problems


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_no_serious_accessibility_problem_on_any_victim_page(
    lang: str, world: World, live_server: Callable[[Any], str], page: Any, axe_violations: Axe
) -> None:
    base = live_server(create_app(world.instance))
    page.set_viewport_size({"width": 360, "height": 740})
    found: dict[str, list[str]] = {}
    for path in ("/", "/report", "/return", "/claim", "/safety"):
        page.goto(f"{base}{path}?lang={lang}")
        _check(page, axe_violations, path, found)
    page.goto(f"{base}/report?lang={lang}")
    page.locator("form button[type=submit]").click()  # empty: the error state
    page.locator(".error-summary").wait_for()
    _check(page, axe_violations, "report errors", found)
    page.locator("#mode-codename").check()
    page.locator("#crime-other").check()
    page.locator("#f-narrative").fill("Synthetic narrative.")
    page.locator("form button[type=submit]").click()
    page.locator("dl.summary").wait_for()
    _check(page, axe_violations, "check your answers", found)
    page.locator(".summary-change a").first.click()
    page.locator("#f-draft-files, #f-narrative").first.wait_for()
    _check(page, axe_violations, "change your answers", found)
    page.locator("form button[type=submit]").click()
    page.locator("dl.summary").wait_for()
    page.locator("form button[type=submit]").click()
    page.locator(".codename").wait_for()
    _check(page, axe_violations, "codename card", found)
    codename = " ".join(page.locator(".codename span").all_inner_texts())
    page.goto(f"{base}/return?lang={lang}")
    page.locator("#f-codename").fill(codename)
    page.locator("form button[type=submit]").click()
    page.locator("ol.seen").wait_for()
    _check(page, axe_violations, "return page", found)
    page.goto(f"{base}/return/mine?lang={lang}")
    page.locator("dl.my-record").wait_for()
    _check(page, axe_violations, "her own record", found)
    page.goto(f"{base}/return/consent?choice=police/investigation&lang={lang}")
    _check(page, axe_violations, "consent confirmation", found)
    page.goto(f"{base}/return?lang={lang}")
    page.locator("section[aria-labelledby=erase-title] a.button").click()
    page.locator("button.danger").wait_for()
    _check(page, axe_violations, "erase confirmation", found)
    page.goto(f"{base}/no-such-page?lang={lang}")
    _check(page, axe_violations, "not found", found)
    page.goto(f"{base}/claim?lang={lang}")
    page.locator("#f-claim_code").fill("AAAA-BBBB-CCCC-DDDD")
    page.locator("form button[type=submit]").click()
    page.locator(".error-summary").wait_for()
    _check(page, axe_violations, "claim error", found)
    assert found == {}
