"""A victim's journey in Debian's Chromium, with JavaScript on and off.

An anonymous report; a codename report; the return page; a caseworker's access appearing
under "who has seen my data"; a receipt downloaded and verified offline; consent withdrawn;
erasure requested. The browser may talk only to 127.0.0.1: any other request fails the test.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.support.victim_world import World, make_world

from safereport.domain.vocabulary import Purpose
from safereport.ledger.verifier import parse_proof
from safereport.services.access import access_case
from safereport.services.victim import open_by_codename
from safereport.store.core import cases
from safereport.web.app import create_app
from safereport.web.victim_support import DEFAULT_EXIT_URL

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = make_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    yield made
    made.instance.close()


@pytest.fixture
def base_url(world: World, live_server: Callable[[Any], str]) -> str:
    return live_server(create_app(world.instance))


def _local_only(page: Any) -> list[str]:
    """Refuse every request to another host (recorded); the quick exit target gets a stub."""
    foreign: list[str] = []

    def handle(route: Any) -> None:
        url = route.request.url
        if url.startswith("http://127.0.0.1:") and url.split("?")[0].endswith("/return/exit"):
            # Chromium follows a redirect without asking the router again: hand the exit's
            # own answer (303, Set-Cookie, Clear-Site-Data) to the browser, so that the
            # neutral site it points to is routed to the stub below.
            _exit_to_stub(route)
        elif url.startswith("http://127.0.0.1:"):
            route.continue_()
        elif url.startswith(DEFAULT_EXIT_URL):
            route.fulfill(status=200, content_type="text/html",
                          body="<!doctype html><title>Weather</title><h1>Weather</h1>")
        else:
            foreign.append(url)
            route.abort()

    page.route("**/*", handle)
    return foreign


EXIT_STUB = "/healthz?left-for=neutral-site"


def _exit_to_stub(route: Any) -> None:
    """The exit's own answer (303, Set-Cookie, Clear-Site-Data) goes to the browser, but its
    redirect points at a local stand-in for the neutral site: Chromium follows redirects
    without asking Playwright's router, so the real one would be looked up on the internet."""
    answer = route.fetch(max_redirects=0)
    assert answer.status == 303 and answer.headers["location"] == DEFAULT_EXIT_URL
    base = route.request.url.split("/return/exit")[0]
    route.fulfill(response=answer, headers={**answer.headers, "location": base + EXIT_STUB})


def _submit_report(page: Any, base: str, *, mode: str, consent: bool = False) -> None:
    page.goto(base + "/")
    page.get_by_role("link", name="Make a report").click()
    page.locator(f"#mode-{mode}").check()
    page.locator("#crime-domestic_abuse").check()
    page.locator("#f-narrative").fill("Synthetic: he took my passport and my phone.")
    page.locator("#f-occurred").fill("last month")
    if consent:
        page.get_by_label("The police, so that they can investigate the crime").check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Check your answers before sending").wait_for()
    page.get_by_role("button", name="Send my report").click()
    page.get_by_role("heading", name="Your report has been sent").wait_for()


def _codename(page: Any) -> str:
    words = page.locator(".codename span").all_inner_texts()
    assert len(words) == 7  # seven words, or seven groups of four digits
    return " ".join(words)


def _open_return(page: Any, base: str, codename: str) -> None:
    page.goto(base + "/return")
    page.locator("#f-codename").fill(codename)
    page.get_by_role("button", name="Open").click()
    page.get_by_role("heading", name="Your report", exact=True).wait_for()


def _verify_record(world: World, path: Path) -> None:
    """Every receipt in the downloaded record checks out with the CLI."""
    with zipfile.ZipFile(path) as bundle:
        names = bundle.namelist()
        assert names
        for name in names:
            receipt = path.parent / name
            receipt.write_bytes(bundle.read(name))
            _verify_receipt(world, receipt)


def _verify_receipt(world: World, path: Path) -> None:
    """The receipt checks out with the CLI, offline, against the log's public key.

    The receipt carries the entry's exact bytes on its ``extra`` line; the CLI takes them as
    a file.
    """
    proof = parse_proof(path.read_text(encoding="utf-8"))
    assert proof.extra is not None
    entry = path.parent / "entry.bin"
    entry.write_bytes(proof.extra)
    vkey = path.parent / "log.vkey"
    vkey.write_text(world.instance.ledger.verifier_key() + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "safereport", "ledger", "check-proof", str(path),
               "--key", str(vkey), "--entry", str(entry)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok:")
    tampered = path.parent / "tampered.bin"
    tampered.write_bytes(proof.extra[:-1] + bytes([proof.extra[-1] ^ 1]))  # one bit changed
    command[-1] = str(tampered)
    assert subprocess.run(command, capture_output=True, check=False).returncode == 1


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_the_whole_journey(
    javascript: bool, request: pytest.FixtureRequest, world: World, base_url: str,
    tmp_path: Path,
) -> None:
    page = request.getfixturevalue("page" if javascript else "page_nojs")
    foreign = _local_only(page)

    _submit_report(page, base_url, mode="anonymous")
    assert page.locator(".codename").count() == 0

    _submit_report(page, base_url, mode="codename", consent=True)
    codename = _codename(page)
    session = open_by_codename(world.instance, codename)
    assert session is not None
    access_case(world.instance, world.caseworker(), session.case_id, purpose=Purpose.SUPPORT)

    _open_return(page, base_url, codename)
    seen = page.locator("ol.seen li")
    assert seen.count() >= 2
    assert "Opened your report" in seen.first.inner_text()  # newest first
    assert "Caseworker" in page.locator("ol.seen").inner_text()

    with page.expect_download() as download:
        page.get_by_role("button", name="Download my record").click()
    saved = tmp_path / "record.zip"
    download.value.save_as(saved)
    _verify_record(world, saved)

    police = "The police, so that they can investigate the crime"
    assert "Allowed since" in page.locator("ul.consents").inner_text()
    # A button (its choice kept in her session): her history does not say to whom.
    page.get_by_role("button", name=f"Change: {police}").click()
    assert "cannot be taken back" in page.content()  # said before, not after
    assert page.url.split("?")[0].endswith("/return/consent") and "police" not in page.url
    page.get_by_role("button", name="Yes, withdraw my agreement").click()
    page.get_by_text("Your choice has been saved.").wait_for()
    assert "Allowed since" not in page.locator("ul.consents").inner_text()

    page.get_by_role("link", name="Delete my report…").click()
    page.get_by_role("button", name="Yes, delete my report").click()
    assert page.locator("#erasure-due").is_visible()
    # One cookie only, the opaque session id, scoped to the return pages.
    (cookie,) = page.context.cookies()
    assert (cookie["path"], cookie["httpOnly"], cookie["sameSite"]) == ("/return", True, "Strict")
    assert foreign == []


def test_shift_three_times_leaves_and_replaces_the_page(page: Any, base_url: str) -> None:
    _local_only(page)
    page.goto(base_url + "/")
    page.goto(base_url + "/report")
    page.locator("#f-narrative").fill("Synthetic: typing, then Escape to close a list")
    page.keyboard.press("Escape")  # a single Esc no longer leaves (and loses her text)
    page.keyboard.press("Shift")
    assert page.url.startswith(base_url)
    page.keyboard.press("Shift")
    page.keyboard.press("Shift")
    page.wait_for_url("**" + EXIT_STUB)
    page.go_back()
    assert "/report" not in page.url  # the report form was replaced in the history


def test_no_key_hint_on_a_touch_screen(browser: Any, base_url: str) -> None:
    context = browser.new_context(has_touch=True, is_mobile=True,
                                  viewport={"width": 360, "height": 740})
    try:
        phone = context.new_page()
        phone.goto(base_url + "/")
        assert not phone.locator(".quick-exit-hint").is_visible()
    finally:
        context.close()
    desktop = browser.new_context()
    try:
        page = desktop.new_page()
        page.goto(base_url + "/")
        assert page.locator(".quick-exit-hint").is_visible()
    finally:
        desktop.close()


def test_the_quick_exit_is_a_plain_link_without_javascript(page_nojs: Any,
                                                           base_url: str) -> None:
    _local_only(page_nojs)
    page_nojs.goto(base_url + "/report")
    page_nojs.get_by_role("link", name="Quick exit", exact=True).click()
    page_nojs.wait_for_url("**" + EXIT_STUB)


def test_a_wrong_codename_is_never_printed_back(page_nojs: Any, base_url: str) -> None:
    page_nojs.goto(base_url + "/return?lang=es")
    page_nojs.locator("#f-codename").fill("abacus abacus abacus abacus abacus abacus abacus")
    page_nojs.get_by_role("button", name="Abrir").click()
    assert "No encontramos ninguna denuncia" in page_nojs.locator(".error-summary").inner_text()
    assert "abacus" not in page_nojs.content()


def test_no_dead_print_button_without_javascript(page_nojs: Any, base_url: str) -> None:
    _submit_report(page_nojs, base_url, mode="codename")
    assert not page_nojs.get_by_role("button", name="Print this card").is_visible()
    assert page_nojs.get_by_text("use your browser's print menu").is_visible()


def test_an_arabic_codename_is_digits_she_can_type_in_her_own_script(
    page_nojs: Any, base_url: str
) -> None:
    _local_only(page_nojs)
    page_nojs.set_viewport_size({"width": 360, "height": 740})
    page_nojs.goto(base_url + "/report?lang=ar")
    page_nojs.locator("#mode-codename").check()
    page_nojs.locator("#crime-domestic_abuse").check()
    page_nojs.locator("#f-narrative").fill("نص تجريبي: أخذ جواز سفري.")
    page_nojs.locator("form button[type=submit]").click()
    page_nojs.locator("dl.summary").wait_for()  # check your answers, then send
    page_nojs.locator("form button[type=submit]").click()
    page_nojs.locator(".codename").wait_for()
    groups = page_nojs.locator(".codename span").all_inner_texts()
    assert len(groups) == 7 and all(g.isdigit() and len(g) == 4 for g in groups)
    typed = "".join(groups).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    page_nojs.goto(base_url + "/return?lang=ar")
    page_nojs.locator("#f-codename").fill(typed)
    page_nojs.locator("form button[type=submit]").click()
    page_nojs.locator("#case-status").wait_for()
    assert page_nojs.url.endswith("/return?lang=ar")


def test_copy_puts_her_exact_codename_on_the_clipboard(browser: Any, base_url: str) -> None:
    """Issue 15: a copy button where JavaScript runs, and it copies exactly the code shown."""
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        _submit_report(page, base_url, mode="codename")
        shown = _codename(page)
        page.get_by_role("button", name="Copy").click()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == shown
    finally:
        context.close()


def test_the_printed_card_keeps_the_code_and_drops_the_buttons_and_the_exit(
    page: Any, base_url: str
) -> None:
    _submit_report(page, base_url, mode="codename")
    page.emulate_media(media="print")
    assert page.locator(".codename-card").is_visible()
    assert len(page.locator(".codename span").all_inner_texts()) == 7
    for hidden in (".quick-exit-bar", ".no-print", ".languages", "form"):
        for element in page.locator(hidden).all():
            assert not element.is_visible(), f"{hidden} would be printed"
    page.emulate_media(media="screen")


def test_the_focus_ring_is_strong_on_every_kind_of_control(page: Any, base_url: str) -> None:
    """A 3 px near-black outline inside a yellow ring: visible on white and on dark buttons."""
    page.goto(base_url + "/return")
    for selector in ("#f-codename", "form button[type=submit]", "a.quick-exit, .quick-exit a"):
        control = page.locator(selector).first
        control.focus()
        style = control.evaluate(
            "el => { const s = getComputedStyle(el); return [s.outlineStyle, s.outlineWidth,"
            " s.outlineColor, s.boxShadow]; }")
        outline_style, width, colour, shadow = style
        assert outline_style == "solid" and float(width.removesuffix("px")) >= 3, style
        assert colour in ("rgb(11, 12, 12)", "rgb(0, 0, 0)"), style
        assert "255, 221, 0" in shadow, style  # the yellow ring around it

# -- the walk-through as a victim on a cheap phone (360 x 640, 2026-12-03) -------------------
# Another language keeps what she typed; a problem with her answers is brought into view;
# Copy says it copied, and the quick exit empties the clipboard again.

PHONE = {"width": 360, "height": 640}
WORDS = "Synthetic: mój mąż zabrał mi paszport 😢"


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
