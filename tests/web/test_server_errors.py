"""Audit: a 500 says only "Internal Server Error" (no traceback, no exception text, no secret)."""

from __future__ import annotations

import warnings

import pytest
from tests.support.staff_client import csrf_of
from tests.support.staff_world import PASSWORD, StaffWorld

from safereport.services import auth as auth_service
from safereport.services import casework
from safereport.web.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

LEAK = "LEAKED-/srv/safereport/keys/kek.json-Traceback"


def _boom(*args: object, **kwargs: object) -> object:
    raise RuntimeError(LEAK)


def _client(world: StaffWorld) -> TestClient:
    return TestClient(create_app(world.instance), follow_redirects=False,
                      raise_server_exceptions=False)


def test_a_failing_staff_page_says_only_internal_server_error(
    sqlite_world: StaffWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyotp

    world = sqlite_world
    client = _client(world)
    page = client.get("/staff/sign-in")
    client.post("/staff/sign-in", data={"csrf_token": csrf_of(page.text), "username": "cw",
                                        "password": PASSWORD,
                                        "code": pyotp.TOTP(world.secrets["cw"]).now()})
    monkeypatch.setattr(casework, "case_page", _boom)
    answer = client.get("/staff/cases/" + "a" * 32)
    assert answer.status_code == 500
    assert answer.text == "Internal Server Error"


def test_a_failing_sign_in_says_only_internal_server_error(
    sqlite_world: StaffWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(sqlite_world)
    page = client.get("/staff/sign-in")
    monkeypatch.setattr(auth_service, "authenticate", _boom)
    answer = client.post("/staff/sign-in", data={"csrf_token": csrf_of(page.text),
                                                 "username": "cw", "password": PASSWORD,
                                                 "code": "123456"})
    assert answer.status_code == 500
    assert answer.text == "Internal Server Error"
    assert LEAK not in answer.text and "Traceback" not in answer.text


def test_the_app_is_not_in_debug_mode(sqlite_world: StaffWorld) -> None:
    assert create_app(sqlite_world.instance).debug is False
