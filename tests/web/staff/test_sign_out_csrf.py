"""Item 7: no other site can sign a staff member out; "Origin: null" is cross-site."""

from __future__ import annotations

import pyotp
from tests.support.staff_client import csrf_of
from tests.support.staff_web import client_from, sign_in
from tests.support.staff_world import PASSWORD, StaffWorld


def test_item7_a_cross_site_sign_out_changes_nothing(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    client = client_from(w)
    sign_in(client, "cw", secret=w.secrets["cw"])
    cookie = client.cookies.get("sr_staff")
    # What an auto-submitted form on another site sends: no cookie (SameSite=Strict), no token.
    bare = client_from(w)
    answer = bare.post("/staff/sign-out", headers={"origin": "http://evil.example"})
    assert answer.status_code == 400 and "set-cookie" not in answer.headers
    # Even with a token minted on our sign-in page, a POST without the cookie clears nothing.
    token = csrf_of(bare.get("/staff/sign-in").text)
    answer = bare.post("/staff/sign-out", data={"csrf_token": token})
    assert "set-cookie" not in answer.headers
    # With the cookie (same site) but without the session's token: refused, still signed in.
    answer = client.post("/staff/sign-out", data={})
    assert answer.status_code == 400
    assert client.cookies.get("sr_staff") == cookie
    assert client.get("/staff/cases").status_code == 200
    # The real sign-out button works.
    home = client.get("/staff/")
    assert client.post("/staff/sign-out",
                       data={"csrf_token": csrf_of(home.text)}).status_code == 303
    assert client.get("/staff/cases").headers["location"] == "/staff/sign-in"


def test_item7_origin_null_is_refused_without_sec_fetch_site(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    client = client_from(w)
    page = client.get("/staff/sign-in")
    form = {"csrf_token": csrf_of(page.text), "username": "cw", "password": PASSWORD,
            "code": pyotp.TOTP(w.secrets["cw"]).now()}
    answer = client.post("/staff/sign-in", data=form, headers={"origin": "null"})
    assert answer.status_code == 400 and "sr_staff" not in client.cookies
    assert page.headers["referrer-policy"] == "same-origin"  # our own forms send our origin
    answer = client.post("/staff/sign-in", data=form, headers={"origin": "http://testserver"})
    assert answer.status_code == 303
