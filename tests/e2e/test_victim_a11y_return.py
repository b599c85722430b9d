"""The return pages the journey in test_victim_a11y.py does not open, in every language, on a
360 px phone (issue 15, "every victim page in every language"): her page with its reply time,
"Send my information somewhere", "Photos and documents", a consent to someone other than the
police, and "This page has closed". axe-core: no serious or critical finding; ``lang`` and
``dir`` right; no English left; nothing wider than the screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.e2e import test_victim_a11y as _a11y
from tests.support.victim_world import World

from safereport.services import replies
from safereport.services.intake import parse_submission, submit_report
from safereport.web.app import create_app
from safereport.web.i18n import LANGUAGES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

world = _a11y.world  # a fixture: an instance on SQLite with a support service
Axe = Callable[[Any], list[dict[str, Any]]]

_PAGES = ("/return", "/return/ask", "/return/evidence",
          "/return/consent?choice=housing/safeguarding", "/return/new")
_ENGLISH = ("Your support service usually answers", "Send my information somewhere",
            "Photos and documents", "This page has closed")


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_every_return_page_is_clean_in_every_language(
    lang: str, world: World, live_server: Callable[[Any], str], page: Any, axe_violations: Axe
) -> None:
    replies.set_reply_time(world.instance, "Safe Haven Support", 2)
    receipt = submit_report(world.instance, parse_submission(
        {"mode": "codename", "crime_type": "domestic_abuse", "narrative": "Synthetic.",
         "language": lang}))
    assert receipt.codename is not None
    base = live_server(create_app(world.instance))
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{base}/return?lang={lang}")
    page.locator("#f-codename").fill(receipt.codename)
    page.locator("form button[type=submit]").click()
    page.locator("p.reply-time").wait_for()
    found: dict[str, list[str]] = {}
    for path in _PAGES:
        joiner = "&" if "?" in path else "?"
        page.goto(f"{base}{path}{joiner}lang={lang}")
        _a11y._check(page, axe_violations, path, found)  # the same audit as the journey
        if lang != "en":
            left = [text for text in _ENGLISH if text in page.content()]
            if left:
                found.setdefault(path, []).append(f"English left: {left}")
    assert found == {}
