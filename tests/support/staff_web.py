"""Helpers: a TestClient from a given address, and sign-in through the real page."""

from __future__ import annotations

import pyotp
from tests.support.staff_client import TestClient, csrf_of
from tests.support.staff_world import PASSWORD, StaffWorld

from safereport.web.app import create_app


def client_from(world: StaffWorld, address: str = "198.51.100.7", **kw: object) -> TestClient:
    app = kw.pop("app", None) or create_app(world.instance)
    return TestClient(app, follow_redirects=False, client=(address, 40000), **kw)  # type: ignore[arg-type]


def sign_in(client: TestClient, username: str, password: str = PASSWORD,
            code: str | None = None, secret: str | None = None) -> object:
    page = client.get("/staff/sign-in")
    if code is None and secret is not None:
        code = pyotp.TOTP(secret).now()
    return client.post("/staff/sign-in", data={
        "csrf_token": csrf_of(page.text), "username": username, "password": password,
        "code": code or ""})
