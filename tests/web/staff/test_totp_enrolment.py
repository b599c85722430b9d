"""Item 1: the second factor cannot be set up again, or replaced, from a session."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import update
from tests.support.staff_client import csrf_of
from tests.support.staff_web import client_from, sign_in
from tests.support.staff_world import StaffWorld

from safereport.errors import AccessDenied
from safereport.services import auth
from safereport.store.core import users


def _secret_on(page: str) -> str:
    found = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', page)
    assert found, "no secret on the page"
    return found.group(1).replace(" ", "")


def _unenrol(world: StaffWorld, username: str) -> None:
    with world.instance.engine.begin() as conn:
        conn.execute(update(users).where(users.c.username == username).values(totp_secret=None))


def test_item1_a_stale_enrolment_session_cannot_enrol_after_the_owner_did(
        sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    _unenrol(w, "cw")
    attacker = client_from(w, "203.0.113.9")
    assert sign_in(attacker, "cw").headers["location"] == "/staff/totp"  # type: ignore[attr-defined]
    owner = client_from(w, "198.51.100.7")
    assert sign_in(owner, "cw").headers["location"] == "/staff/totp"  # type: ignore[attr-defined]
    page = owner.get("/staff/totp")
    mine = _secret_on(page.text)
    done = owner.post("/staff/totp", data={"csrf_token": csrf_of(page.text),
                                           "code": pyotp.TOTP(mine).now()})
    assert done.headers["location"] == "/staff/"
    # The attacker's password-only session is over: no new secret, no way in.
    again = attacker.get("/staff/totp")
    assert again.status_code == 303 and again.headers["location"] == "/staff/sign-in"
    assert "totp-secret" not in again.text
    assert attacker.get("/staff/cases").headers["location"] == "/staff/sign-in"
    # ...and the owner's authenticator is still the account's factor.
    later = pyotp.TOTP(mine).at(time.time() + 30)  # its last code was used: the next one
    assert sign_in(client_from(w, "198.51.100.8"), "cw", code=later).headers[  # type: ignore[attr-defined]
        "location"] == "/staff/"


def test_item1_an_active_session_cannot_replace_the_factor(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    client = client_from(w)
    assert sign_in(client, "cw", secret=w.secrets["cw"]).headers[  # type: ignore[attr-defined]
        "location"] == "/staff/"
    home = client.get("/staff/")
    answer = client.post("/staff/totp", data={"csrf_token": csrf_of(home.text),
                                              "code": "000000"})
    assert answer.status_code == 303 and "totp-secret" not in answer.text
    assert client.get("/staff/totp").headers["location"] == "/staff/"
    with w.instance.engine.begin() as conn:
        token = client.cookies.get("sr_staff")
        assert token is not None
        with pytest.raises(AccessDenied):
            auth.begin_totp_enrolment(conn, token, auth.totp_sealer(w.instance.settings))
    # The original authenticator still signs in (a later step: its last code was used).
    later = pyotp.TOTP(w.secrets["cw"]).at(time.time() + 30)
    assert sign_in(client_from(w, "198.51.100.8"), "cw", code=later).headers[  # type: ignore[attr-defined]
        "location"] == "/staff/"


def test_item1_enrolment_ends_every_other_session(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    _unenrol(w, "cw")
    first, second = client_from(w, "198.51.100.1"), client_from(w, "198.51.100.2")
    sign_in(first, "cw")
    sign_in(second, "cw")
    page = second.get("/staff/totp")
    secret = _secret_on(page.text)
    second.post("/staff/totp", data={"csrf_token": csrf_of(page.text),
                                     "code": pyotp.TOTP(secret).now()})
    assert second.get("/staff/cases").status_code == 200
    assert first.get("/staff/totp").headers["location"] == "/staff/sign-in"
