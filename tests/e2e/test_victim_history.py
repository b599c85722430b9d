"""The quick exit survives Back: what the UX review did, in Debian's Chromium on a 360 px phone.

She reports with a codename, opens her report, replies, gives a consent, asks for erasure and
cancels it, then leaves by the quick exit (the button with JavaScript, the plain link
without). Then someone else presses Back again and again, and Reload: no page may show her
reference, codename, messages or anything she typed, and the server must hold each of her
actions once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.e2e.test_victim_flow import EXIT_STUB, _exit_to_stub
from tests.support.victim_world import World, make_world

from safereport.services.victim import case_overview, consent_states, open_by_codename
from safereport.store.core import cases, notes
from safereport.web.app import create_app
from safereport.web.victim_support import DEFAULT_EXIT_URL

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NARRATIVE = "Synthetic: NARRATIVE-SECRET he keeps my passport."
REPLY = "REPLY-SECRET I am at my sister's flat"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = make_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    yield made
    made.instance.close()


@pytest.fixture
def phone(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(java_script_enabled=request.param, has_touch=True,
                                  viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.set_default_timeout(15_000)

    def route(handle: Any) -> None:
        url = handle.request.url
        if url.startswith("http://127.0.0.1:") and url.split("?")[0].endswith("/return/exit"):
            _exit_to_stub(handle)
        elif url.startswith("http://127.0.0.1:"):
            handle.continue_()
        elif url.startswith(DEFAULT_EXIT_URL):
            handle.fulfill(status=200, content_type="text/html",
                           body="<!doctype html><title>Weather</title><h1>Weather</h1>")
        else:
            handle.abort()

    page.route("**/*", route)
    yield page
    context.close()


def _count(world: World, table: Any) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _her_journey(page: Any, base: str) -> tuple[str, str]:
    page.goto(base + "/report")
    page.locator("#mode-codename").check()
    page.locator("#crime-domestic_abuse").check()
    page.locator("#f-narrative").fill(NARRATIVE)
    page.get_by_label("Housing services, to help keep you safe").check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Send my report").click()
    page.locator(".codename").wait_for()
    codename = " ".join(page.locator(".codename span").all_inner_texts())
    reference = page.get_by_text("Reference:").inner_text().split(":", 1)[1].strip()
    page.get_by_role("link", name="Open your report with your codename").click()
    page.locator("#f-codename").fill(codename)
    page.get_by_role("button", name="Open").click()
    page.get_by_role("heading", name="Your report", exact=True).wait_for()
    page.locator("#f-message").fill(REPLY)
    page.get_by_role("button", name="Send message").click()
    page.get_by_text("Your message has been sent.").wait_for()
    page.get_by_role("button", name="Change: The police, so that they can investigate the crime"
                     ).click()
    page.get_by_role("button", name="Yes, I agree").click()
    page.get_by_text("Your choice has been saved.").wait_for()
    page.get_by_role("link", name="Delete my report…").click()
    page.get_by_role("button", name="Yes, delete my report").click()
    page.get_by_role("button", name="Cancel the deletion").click()
    page.get_by_text("The deletion has been cancelled.").wait_for()
    return codename, reference


def _shows_nothing_of_her(page: Any, secrets: list[str], where: str) -> None:
    text = page.content()
    found = [s for s in secrets if s in text]
    assert found == [], f"{where}: {page.url} shows {found}"
    for field in page.locator("input[type=text], textarea").all():
        value = field.input_value()
        assert not any(s in value for s in secrets), f"{where}: a field still holds {value!r}"


@pytest.mark.parametrize("phone", [True, False], ids=["js", "nojs"], indirect=True)
def test_back_and_reload_after_the_quick_exit_show_and_resend_nothing(
    phone: Any, world: World, live_server: Callable[[Any], str]
) -> None:
    base = live_server(create_app(world.instance))
    codename, reference = _her_journey(phone, base)
    session = open_by_codename(world.instance, codename)
    assert session is not None
    held = (_count(world, cases), _count(world, notes))
    assert held == (1, 1)

    phone.get_by_role("link", name="Quick exit", exact=True).click()
    phone.wait_for_url("**" + EXIT_STUB)
    assert phone.context.cookies() == []

    secrets = [codename, reference, REPLY, "NARRATIVE-SECRET", "Who has seen my data"]
    visited = []
    for step in range(12):
        if phone.go_back(wait_until="load") is None:
            break
        visited.append(phone.url.removeprefix(base))
        _shows_nothing_of_her(phone, secrets, f"Back {step + 1}")
        phone.reload(wait_until="load")
        _shows_nothing_of_her(phone, secrets, f"Back {step + 1}, Reload")
    # Every page of her journey was revisited, her case page and her card among them.
    assert "/return" in visited and "/return/new" in visited and "/report" in visited, visited
    # The server holds each action once: one case, one reply, no erasure re-requested.
    assert (_count(world, cases), _count(world, notes)) == held
    assert case_overview(world.instance, session).erasure_requested_at is None
    given = [c for c in consent_states(world.instance, session) if c.active]
    assert {c.recipient.value for c in given} == {"housing", "police"}
