"""Sign-in pages: TOTP enrolment with a local QR code, cookies, timeouts, lockout, CSRF."""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import update
from tests.support.staff_client import TestClient, csrf_of, signed_in
from tests.support.staff_world import PASSWORD, StaffWorld

from safereport.services import auth
from safereport.store.core import users
from safereport.store.staff import staff_sessions
from safereport.web.app import create_app


def _client(world: StaffWorld) -> TestClient:
    return TestClient(create_app(world.instance), follow_redirects=False)


def test_pages_need_a_session(sqlite_world: StaffWorld) -> None:
    client = _client(sqlite_world)
    for path in ("/staff/", "/staff/cases", "/staff/audit", "/staff/inbox"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/staff/sign-in"


def test_sign_in_sets_a_strict_httponly_cookie(sqlite_world: StaffWorld) -> None:
    client = signed_in(sqlite_world, "cw")
    response = client.get("/staff/")
    assert response.status_code == 200 and "Hello, Cw" in response.text
    fresh = _client(sqlite_world)
    page = fresh.get("/staff/sign-in")
    answer = fresh.post("/staff/sign-in", data={
        "csrf_token": csrf_of(page.text), "username": "sup1", "password": PASSWORD,
        "code": pyotp.TOTP(sqlite_world.secrets["sup1"]).now()})
    header = answer.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header and "path=/staff" in header
    assert "secure" not in header  # plain http here; set when the request is https


def test_wrong_code_and_lockout(sqlite_world: StaffWorld) -> None:
    client = _client(sqlite_world)
    answers = []
    for _ in range(auth.MAX_FAILED_SIGNINS):
        page = client.get("/staff/sign-in")
        answers.append(client.post("/staff/sign-in", data={
            "csrf_token": csrf_of(page.text), "username": "cw", "password": PASSWORD,
            "code": "000000"}))
    page = client.get("/staff/sign-in")
    answers.append(client.post("/staff/sign-in", data={
        "csrf_token": csrf_of(page.text), "username": "cw", "password": PASSWORD,
        "code": pyotp.TOTP(sqlite_world.secrets["cw"]).now()}))
    # Locked after the wrong codes, and told exactly what any refused sign-in is told.
    assert {a.status_code for a in answers} == {401}
    assert len({a.text.replace(csrf_of(a.text), "") for a in answers}) == 1


def test_csrf_is_required(sqlite_world: StaffWorld) -> None:
    client = _client(sqlite_world)
    answer = client.post("/staff/sign-in", data={"username": "cw", "password": PASSWORD})
    assert answer.status_code == 400


def test_enrolment_with_inline_svg_qr(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    with w.instance.engine.begin() as conn:
        conn.execute(update(users).where(users.c.username == "cw").values(totp_secret=None))
    client = _client(w)
    page = client.get("/staff/sign-in")
    answer = client.post("/staff/sign-in", data={
        "csrf_token": csrf_of(page.text), "username": "cw", "password": PASSWORD, "code": ""})
    assert answer.headers["location"] == "/staff/totp"
    # until enrolment is confirmed, nothing else opens
    assert client.get("/staff/cases").headers["location"] == "/staff/totp"
    enrol = client.get("/staff/totp")
    assert "<svg" in enrol.text and "<img" not in enrol.text and "http" not in \
        enrol.text.split("<svg", 1)[1].split("</svg>", 1)[0].replace(
            "http://www.w3.org", "")
    secret = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', enrol.text)
    assert secret
    code = pyotp.TOTP(secret.group(1).replace(" ", "")).now()
    done = client.post("/staff/totp", data={"csrf_token": csrf_of(enrol.text), "code": code})
    assert done.headers["location"] == "/staff/"
    assert client.get("/staff/cases").status_code == 200


def test_idle_session_expires_and_sign_out_ends_it(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    client = signed_in(w, "cw")
    from datetime import UTC, datetime

    with w.instance.engine.begin() as conn:
        conn.execute(update(staff_sessions).values(
            last_seen_at=datetime.now(UTC) - auth.IDLE_TIMEOUT - auth.IDLE_TIMEOUT / 10))
    assert client.get("/staff/").status_code == 303
    client = signed_in(w, "sup1")
    home = client.get("/staff/")
    out = client.post("/staff/sign-out", data={"csrf_token": csrf_of(home.text)})
    assert out.status_code == 303
    assert client.get("/staff/").status_code == 303


def test_cookie_is_secure_over_https(sqlite_world: StaffWorld) -> None:
    client = TestClient(create_app(sqlite_world.instance), base_url="https://testserver",
                        follow_redirects=False)
    page = client.get("/staff/sign-in")
    answer = client.post("/staff/sign-in", data={
        "csrf_token": csrf_of(page.text), "username": "cw", "password": PASSWORD,
        "code": pyotp.TOTP(sqlite_world.secrets["cw"]).now()})
    header = answer.headers["set-cookie"].lower()
    assert "; secure" in header and "httponly" in header and "samesite=strict" in header
    assert client.get("/staff/").status_code == 200
