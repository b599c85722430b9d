"""Evidence over HTTP: staff and her pages, downloads only, limits while streaming."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from tests.support.evidence_files import HTML_AS_JPG, MARKER, jpeg_with_gps, pdf_with_metadata
from tests.support.staff_client import TestClient, csrf_of, signed_in
from tests.support.staff_world import StaffWorld

from safereport.services.intake import parse_submission, submit_report
from safereport.services.victim import VictimSession, open_by_codename
from safereport.store.evidence import evidence_files
from safereport.web.app import create_app
from safereport.web.victim_session import COOKIE, ReturnSessions

_DOWNLOAD = re.compile(r'href="(/staff/cases/[^/]+/evidence/[0-9a-f]{32})"')


def _rows(world: StaffWorld) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(evidence_files)).scalar_one())


def _upload(client: TestClient, case_id: str, name: str, content: bytes,
            content_type: str = "image/jpeg", **data: str) -> object:
    token = csrf_of(client.get(f"/staff/cases/{case_id}/evidence").text)
    return client.post(f"/staff/cases/{case_id}/evidence",
                       data={"csrf_token": token, **data},
                       files={"file": (name, content, content_type)})


def _assert_download_only(response: object, filename: str) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert headers["content-type"] == "application/octet-stream"
    assert headers["x-content-type-options"] == "nosniff"
    [policy] = headers.get_list("content-security-policy")
    assert policy.startswith("sandbox; default-src 'none'")


def test_staff_attach_list_and_download_as_a_file_only(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = world.file("cw").case_id
    client = signed_in(world, "cw")
    assert 'action="/staff/cases/' + case_id + '/evidence"' in client.get(
        f"/staff/cases/{case_id}").text  # the case page offers it
    answer = _upload(client, case_id, "IMG_2041 at mums house.jpg", jpeg_with_gps())
    assert answer.status_code == 303  # type: ignore[attr-defined]
    page = client.get(f"/staff/cases/{case_id}/evidence").text
    assert "evidence-1.jpg" in page and "mums house" not in page
    [link] = _DOWNLOAD.findall(page)
    got = client.get(link)
    assert got.status_code == 200
    _assert_download_only(got, "evidence-1.jpg")
    assert got.content[:3] == b"\xff\xd8\xff" and MARKER.encode() not in got.content


def test_html_named_jpg_is_refused_with_a_clear_message(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = world.file("cw").case_id
    client = signed_in(world, "cw")
    answer = _upload(client, case_id, "photo.jpg", HTML_AS_JPG)
    assert answer.status_code == 400  # type: ignore[attr-defined]
    assert "whatever its name says" in answer.text  # type: ignore[attr-defined]
    assert "Nothing was saved" in answer.text  # type: ignore[attr-defined]
    assert _rows(world) == 0


def test_a_body_past_the_limit_is_refused_while_streaming(sqlite_world: StaffWorld) -> None:
    from dataclasses import replace

    world = sqlite_world
    world.instance.settings = replace(world.instance.settings, evidence_max_mb=1,
                                      evidence_media_max_mb=1)
    case_id = world.file("cw").case_id
    client = signed_in(world, "cw")
    _upload(client, case_id, "a.pdf", pdf_with_metadata(), "application/pdf")
    big = b"\xff\xd8\xff\xe0" + b"\x00" * (3 * 1024 * 1024)
    answer = _upload(client, case_id, "big.jpg", big)
    assert answer.status_code == 413  # type: ignore[attr-defined]
    assert "the largest accepted is 1 MB" in answer.text  # type: ignore[attr-defined]
    assert _rows(world) == 1  # what was there stays
    # Other routes keep the small limit (192 KiB): the raise is for the upload routes only.
    token = csrf_of(client.get(f"/staff/cases/{case_id}").text)
    note = client.post(f"/staff/cases/{case_id}/notes",
                       data={"csrf_token": token, "text": "x" * (300 * 1024)})
    assert note.status_code == 413


def test_another_organisations_staff_get_no_such_case(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = world.file("cw").case_id
    owner = signed_in(world, "cw")
    _upload(owner, case_id, "p.jpg", jpeg_with_gps())
    [link] = _DOWNLOAD.findall(owner.get(f"/staff/cases/{case_id}/evidence").text)
    other = signed_in(world, "other_cw")
    assert other.get(link).status_code == 404
    assert other.get(f"/staff/cases/{case_id}/evidence").status_code == 404


@pytest.fixture
def her(sqlite_world: StaffWorld) -> Iterator[tuple[TestClient, VictimSession]]:
    made = submit_report(sqlite_world.instance, parse_submission(
        {"mode": "codename", "crime_type": "domestic_abuse", "narrative": "Synthetic."}))
    assert made.codename is not None
    session = open_by_codename(sqlite_world.instance, made.codename)
    assert session is not None
    app = create_app(sqlite_world.instance)
    sessions = ReturnSessions()
    app.state.victim_sessions = sessions  # as a codename login leaves it
    with TestClient(app, follow_redirects=False) as client:
        client.cookies.set(COOKIE, sessions.start(session), path="/return")
        yield client, session


def _her_upload(client: TestClient, content: bytes, name: str = "photo.jpg",
                **data: str) -> object:
    token = csrf_of(client.get("/return/evidence").text)
    return client.post("/return/evidence", data={"csrf_token": token, **data},
                       files={"file": (name, content, "image/jpeg")})


def test_she_sends_a_photo_and_downloads_it_clean(
    sqlite_world: StaffWorld, her: tuple[TestClient, VictimSession]
) -> None:
    client, session = her
    assert 'href="/return/evidence"' in client.get("/return").text
    answer = _her_upload(client, jpeg_with_gps())
    assert answer.status_code == 303  # type: ignore[attr-defined]
    assert answer.headers["location"] == "/return/evidence"  # type: ignore[attr-defined]
    page = client.get("/return/evidence").text
    assert "Your file has been added" in page and "evidence-1.jpg" in page
    wanted = re.search(r'name="evidence" value="([0-9a-f]{32})"', page)
    assert wanted is not None
    got = client.post("/return/evidence/download",
                      data={"csrf_token": csrf_of(page), "evidence": wanted.group(1)})
    assert got.status_code == 200
    _assert_download_only(got, "evidence-1.jpg")
    assert MARKER.encode() not in got.content
    # Her caseworker sees it on the case page's evidence list.
    staff = signed_in(sqlite_world, "cw")
    assert "her, through her own page" in staff.get(
        f"/staff/cases/{session.case_id}/evidence").text


def test_her_wrong_file_is_named_in_her_words_and_a_replay_does_nothing(
    sqlite_world: StaffWorld, her: tuple[TestClient, VictimSession]
) -> None:
    client, _ = her
    _her_upload(client, HTML_AS_JPG)
    page = client.get("/return/evidence").text
    assert "whatever its name says" in page and 'aria-invalid="true"' in page
    token = csrf_of(client.get("/return/evidence").text)
    files = {"file": ("a.jpg", jpeg_with_gps(), "image/jpeg")}
    client.post("/return/evidence", data={"csrf_token": token}, files=files)
    client.post("/return/evidence", data={"csrf_token": token}, files=files)  # Back + resend
    assert _rows(sqlite_world) == 1


def test_no_session_no_upload(sqlite_world: StaffWorld) -> None:
    with TestClient(create_app(sqlite_world.instance), follow_redirects=False) as client:
        answer = client.post("/return/evidence", files={"file": ("a.jpg", b"x", "image/jpeg")})
        assert answer.status_code == 303 and answer.headers["location"] == "/return"
    assert _rows(sqlite_world) == 0


def test_her_upload_past_the_limit_is_refused_in_her_words(
    sqlite_world: StaffWorld, her: tuple[TestClient, VictimSession]
) -> None:
    from dataclasses import replace

    client, _ = her
    sqlite_world.instance.settings = replace(sqlite_world.instance.settings, evidence_max_mb=1,
                                             evidence_media_max_mb=1)
    answer = _her_upload(client, b"\xff\xd8\xff\xe0" + b"\x00" * (3 * 1024 * 1024))
    assert answer.status_code == 303  # type: ignore[attr-defined]
    page = client.get("/return/evidence").text
    assert "the largest we can take is 1 MB" in page and "Nothing was saved" in page
    assert _rows(sqlite_world) == 0
