"""A signed-in TestClient per staff member (password + TOTP through the real sign-in page)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
from tests.support.staff_world import PASSWORD, StaffWorld
from tests.support.testclient import TestClient

from safereport.web.app import create_app

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_STEP = [0]


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def fresh_code(secret: str) -> str:
    # A code is good once: each sign-in in a test uses the next 30 s step ahead (the server
    # accepts one step either side), so two sign-ins of one user never replay a code.
    _STEP[0] = (_STEP[0] + 1) % 2
    return pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30 * _STEP[0]))


def signed_in(world: StaffWorld, username: str, client: TestClient | None = None) -> TestClient:
    client = client or TestClient(create_app(world.instance), follow_redirects=False)
    page = client.get("/staff/sign-in")
    response = client.post("/staff/sign-in", data={
        "csrf_token": csrf_of(page.text), "username": username, "password": PASSWORD,
        "code": pyotp.TOTP(world.secrets[username]).now()})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/staff/"
    return client


def post(client: TestClient, path: str, form_page: str, data: dict[str, object]) -> object:
    token = csrf_of(client.get(form_page).text)
    return client.post(path, data={"csrf_token": token, **data})
