"""Evidence in Chromium (issue 18): she sends a photo from her return page without JavaScript;
her caseworker downloads it from the case page; both sides pass axe-core.

Her return session is started as a codename login leaves it (the login form itself is
covered by test_victim_flow.py and is being changed for issue 19).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tests.e2e.test_staff_pages import _no_violations as _clean
from tests.e2e.test_staff_pages import sign_in
from tests.support.evidence_files import HTML_AS_JPG, MARKER, jpeg_with_gps, pdf_with_metadata
from tests.support.staff_world import StaffWorld

from safereport.services.intake import parse_submission, submit_report
from safereport.services.victim import open_by_codename
from safereport.web.app import create_app
from safereport.web.victim_session import COOKIE, ReturnSessions

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Axe = Callable[[Any], list[dict[str, Any]]]
Serve = Callable[[Any], str]


def _only_local(page: Any, base: str) -> list[str]:
    elsewhere: list[str] = []

    def check(route: Any) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", check)
    return elsewhere


def test_she_sends_a_photo_and_her_caseworker_downloads_it_clean(
    staff_world: StaffWorld, live_server: Serve, page_nojs: Any, page: Any, axe_violations: Axe,
    tmp_path: Path,
) -> None:
    world = staff_world
    made = submit_report(world.instance, parse_submission(
        {"mode": "codename", "crime_type": "domestic_abuse", "narrative": "Synthetic."}))
    assert made.codename is not None
    session = open_by_codename(world.instance, made.codename)
    assert session is not None
    app = create_app(world.instance)
    app.state.victim_sessions = ReturnSessions()
    base = live_server(app)
    elsewhere = _only_local(page_nojs, base)

    # Her side, without JavaScript: the return page leads to her files.
    opaque = app.state.victim_sessions.start(session)
    for browser_page in (page_nojs, page):
        browser_page.context.add_cookies([{"name": COOKIE, "url": base + "/return",
                                           "value": opaque}])
    page_nojs.goto(base + "/return")
    page_nojs.locator('a[href="/return/evidence"]').click()
    page_nojs.wait_for_url(base + "/return/evidence")
    # A web page dressed up as a photo is refused in plain words, and said at the field.
    page_nojs.get_by_label("Choose a file").set_input_files(
        files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": HTML_AS_JPG}])
    page_nojs.get_by_role("button", name="Send the file").click()
    page_nojs.wait_for_url(base + "/return/evidence")
    assert "whatever its name says" in page_nojs.locator("#error-summary").inner_text()
    page_nojs.get_by_label("Choose a file").set_input_files(
        files=[{"name": "IMG_2041 at mums.jpg", "mimeType": "image/jpeg",
                "buffer": jpeg_with_gps()}])
    page_nojs.get_by_role("button", name="Send the file").click()
    page_nojs.wait_for_url(base + "/return/evidence")
    assert "Your file has been added" in page_nojs.locator("[role=status]").inner_text()
    assert "evidence-1.jpg" in page_nojs.content()
    assert "mums" not in page_nojs.content()
    with page_nojs.expect_download() as mine:
        page_nojs.get_by_role("button", name="Download: evidence-1.jpg").click()
    assert mine.value.suggested_filename == "evidence-1.jpg"
    assert elsewhere == []
    # axe-core needs JavaScript: the same pages, and the refusal, in a page with it on.
    her_elsewhere = _only_local(page, base)
    page.goto(base + "/return")
    _clean(page, axe_violations)
    page.goto(base + "/return/evidence")
    _clean(page, axe_violations)
    page.get_by_label("Choose a file").set_input_files(
        files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": HTML_AS_JPG}])
    page.get_by_role("button", name="Send the file").click()
    page.wait_for_url(base + "/return/evidence")
    assert page.locator("#f-file").get_attribute("aria-invalid") == "true"
    _clean(page, axe_violations)
    assert her_elsewhere == []

    # Staff side: the case page offers evidence; the photo is a download, cleaned.
    sign_in(page, base, world, "cw")
    page.goto(f"{base}/staff/cases/{session.case_id}")
    page.get_by_label("Attach a photo (JPEG, PNG, WebP), PDF, sound or video file")\
        .set_input_files(files=[{"name": "letter.pdf", "mimeType": "application/pdf",
                                 "buffer": pdf_with_metadata()}])
    page.get_by_role("button", name="Attach", exact=True).click()
    page.wait_for_url(f"{base}/staff/cases/{session.case_id}/evidence#attached")
    _clean(page, axe_violations)
    assert "her, through her own page" in page.content()
    with page.expect_download() as got:
        page.get_by_role("link", name="evidence-1.jpg").click()
    download = got.value
    assert download.suggested_filename == "evidence-1.jpg"
    saved = tmp_path / "downloaded.jpg"
    download.save_as(saved)
    data = saved.read_bytes()
    assert MARKER.encode() not in data
    with Image.open(io.BytesIO(data)) as image:
        assert len(image.getexif()) == 0 and image.size == (20, 40)
    with page.expect_download() as pdf:
        page.get_by_role("link", name="evidence-2.pdf").click()
    assert pdf.value.suggested_filename == "evidence-2.pdf"
    assert her_elsewhere == []

    # Each download was decided and recorded: hers and the caseworker's.
    with world.instance.engine.connect() as conn:
        entries = world.instance.ledger.entries_for_case(conn, session.case_id)
    views = [(e.actor_id, e.effect) for e in entries
             if e.action == "view" and e.categories == ("crime_details",)]
    assert (f"subject:{session.subject_id}", "allow") in views
    assert views.count((f"user:{world.users['cw'].id}", "allow")) == 2
