"""Item 1, its last path: a lost second factor is replaced only through the two-person admin
reset. Asked for by one administrator, nothing changes (the old factor still signs in, the
password alone opens nothing); confirmed by the same one, refused; confirmed by a different
one, the factor goes, every session ends, and she enrols a new one with her password."""

from __future__ import annotations

import time

import pyotp
from tests.support.admins import add_admin
from tests.support.staff_client import csrf_of, signed_in
from tests.support.staff_web import client_from, sign_in
from tests.support.staff_world import StaffWorld
from tests.web.staff.test_totp_enrolment import _secret_on


def _admin_post(client: object, path: str, data: dict[str, str]) -> object:
    token = csrf_of(client.get("/staff/admin").text)  # type: ignore[attr-defined]
    return client.post(path, data={"csrf_token": token, **data})  # type: ignore[attr-defined]


def test_item1_a_factor_is_replaced_only_after_a_second_admin_confirms(
        world: StaffWorld) -> None:
    w = world
    add_admin(w)
    first, second = signed_in(w, "admin"), signed_in(w, "admin2")
    hers = signed_in(w, "cw")
    _admin_post(first, "/staff/admin/factor-reset", {"username": "cw",
                                                     "reason": "Lost her phone"})
    # Asked for only: the password alone still cannot set up a factor...
    stranger = client_from(w, "203.0.113.9")
    assert sign_in(stranger, "cw").status_code == 401  # type: ignore[attr-defined]
    # ...her session and her authenticator still work...
    assert hers.get("/staff/cases").status_code == 200
    # ...and the asking admin cannot confirm it alone.
    alone = _admin_post(first, "/staff/admin/factor-reset/confirm", {"username": "cw"})
    assert alone.status_code == 400  # type: ignore[attr-defined]
    assert sign_in(stranger, "cw").status_code == 401  # type: ignore[attr-defined]
    # A different admin confirms: the factor and every session of hers are gone.
    done = _admin_post(second, "/staff/admin/factor-reset/confirm", {"username": "cw"})
    assert done.status_code == 200  # type: ignore[attr-defined]
    assert hers.get("/staff/cases").headers["location"] == "/staff/sign-in"
    old_code = pyotp.TOTP(w.secrets["cw"]).at(time.time() + 30)
    client = client_from(w, "198.51.100.40")
    assert sign_in(client, "cw", code=old_code).headers[  # type: ignore[attr-defined]
        "location"] == "/staff/totp"
    page = client.get("/staff/totp")
    mine = _secret_on(page.text)
    assert mine != w.secrets["cw"]
    enrolled = client.post("/staff/totp", data={"csrf_token": csrf_of(page.text),
                                                 "code": pyotp.TOTP(mine).now()})
    assert enrolled.headers["location"] == "/staff/"
    assert client.get("/staff/cases").status_code == 200
    # The old authenticator opens nothing now.
    late = client_from(w, "198.51.100.41")
    assert sign_in(late, "cw", code=pyotp.TOTP(w.secrets["cw"]).at(  # type: ignore[attr-defined]
        time.time() + 30)).status_code == 401
