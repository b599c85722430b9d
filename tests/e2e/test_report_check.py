"""Issue 18 in Chromium: she records her answer (a fake microphone) and attaches a photo on
the report form, checks her answers, changes one, sends; without JavaScript the same form
takes a sound file; her caseworker plays the recording on the case page, and the play is a
recorded access. Every page passes axe-core."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.test_evidence import _only_local
from tests.e2e.test_staff_pages import _no_violations as _clean
from tests.e2e.test_staff_pages import sign_in
from tests.support.evidence_files import jpeg_with_gps
from tests.support.sound import voice_note
from tests.support.staff_world import StaffWorld

from safereport.store.evidence import evidence_files
from safereport.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Axe = Callable[[Any], list[dict[str, Any]]]
Serve = Callable[[Any], str]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium with a fake microphone that needs no prompt, and sound that may play."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed (run `python3 tasks.py test`)")
    with sync_playwright() as pw:
        made = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required"])
        yield made
        made.close()


def test_record_attach_check_change_send_and_staff_play(
    staff_world: StaffWorld, live_server: Serve, page: Any, axe_violations: Axe,
) -> None:
    world = staff_world
    base = live_server(create_app(world.instance))
    elsewhere = _only_local(page, base)
    page.goto(base + "/report")
    page.locator("#mode-codename").check()
    page.locator("#crime-domestic_abuse").check()
    # Her answer, recorded (the fake microphone plays a tone) instead of written.
    page.get_by_role("button", name="Record my answer").click()
    page.get_by_role("button", name="Stop recording").wait_for()
    page.wait_for_timeout(1200)  # a second of sound
    page.get_by_role("button", name="Stop recording").click()
    page.get_by_text("Your recording is ready.").wait_for()
    page.get_by_label("Add a photo, a screenshot or a document (optional)").set_input_files(
        files=[{"name": "IMG_2041 at mums.jpg", "mimeType": "image/jpeg",
                "buffer": jpeg_with_gps()}])
    page.locator("#f-email").fill("her@example.net")
    page.locator("#safe-email").check()
    page.locator("#time-evening").check()
    _clean(page, axe_violations)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Check your answers before sending").wait_for()
    _clean(page, axe_violations)
    summary = page.locator("dl.summary").inner_text()
    assert "Your recorded answer (a sound file)" in summary and "1. Photo" in summary
    assert "Evenings (5pm to 9pm)" in summary and "mums" not in summary
    # Change one answer: the written one, added beside the recording.
    page.get_by_role("link", name="Change What happened?").click()
    page.get_by_role("heading", name="Change your answers").wait_for()
    assert page.locator("#f-email").input_value() == "her@example.net"
    _clean(page, axe_violations)
    page.locator("#f-narrative").fill("Synthetic: he took my phone.")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Check your answers before sending").wait_for()
    assert "Synthetic: he took my phone." in page.locator("dl.summary").inner_text()
    page.get_by_role("button", name="Send my report").click()
    page.get_by_role("heading", name="Your report has been sent").wait_for()
    _clean(page, axe_violations)
    page.go_back()  # Back: the check page is closed, nothing of her answers is shown
    assert "This page has closed" in page.content()
    assert "he took my phone" not in page.content()
    assert elsewhere == []

    with world.instance.engine.connect() as conn:
        case_id, media_type = conn.execute(
            select(evidence_files.c.case_id, evidence_files.c.media_type)
            .where(evidence_files.c.voice.is_(True))).one()
    assert media_type.startswith(("audio/", "video/webm"))

    # Her caseworker plays it on the case page; the play opens it through the road.
    sign_in(page, base, world, "cw")
    page.goto(f"{base}/staff/cases/{case_id}")
    audio = page.locator("figure.voice audio")
    audio.wait_for()
    _clean(page, axe_violations)
    audio.evaluate("a => a.play()")
    page.wait_for_function(
        "() => { const a = document.querySelector('figure.voice audio');"
        " return a.error === null && a.readyState >= 2 && a.duration > 0; }")
    with world.instance.engine.connect() as conn:
        entries = world.instance.ledger.entries_for_case(conn, case_id)
    assert any(e.actor_id == f"user:{world.users['cw'].id}" and e.action == "view"
               and e.categories == ("crime_details",) and e.effect == "allow"
               for e in entries)


def test_without_javascript_a_sound_file_stands_in_for_the_written_answer(
    staff_world: StaffWorld, live_server: Serve, page_nojs: Any,
) -> None:
    base = live_server(create_app(staff_world.instance))
    page_nojs.goto(base + "/report")
    assert not page_nojs.get_by_role("button", name="Record my answer").is_visible()
    page_nojs.locator("#mode-anonymous").check()
    page_nojs.locator("#crime-domestic_abuse").check()
    page_nojs.get_by_label("Or say it instead of writing it (optional)").set_input_files(
        files=[{"name": "voice.wav", "mimeType": "audio/wav", "buffer": voice_note()}])
    page_nojs.get_by_role("button", name="Continue").click()
    page_nojs.get_by_role("heading", name="Check your answers before sending").wait_for()
    assert "Your recorded answer (a sound file)" in page_nojs.locator("dl.summary").inner_text()
    page_nojs.get_by_role("button", name="Send my report").click()
    page_nojs.get_by_role("heading", name="Your report has been sent").wait_for()
