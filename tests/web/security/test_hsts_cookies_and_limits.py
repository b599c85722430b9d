"""Item 9: HSTS over TLS, the cookie's Secure flag from configuration, and rate limits on
the two write routes that had none."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pyotp
from tests.support.staff_client import TestClient, csrf_of, signed_in
from tests.support.staff_web import sign_in
from tests.support.staff_world import StaffWorld

from safereport.config import load_settings
from safereport.services.instance import Instance
from safereport.web.app import create_app
from safereport.web.security import POST_LIMITS


def _app(world: StaffWorld, **settings: Any) -> Any:
    changed = replace(world.instance.settings, **settings)
    return create_app(Instance(settings=changed, engine=world.instance.engine))


def test_item9_hsts_only_over_https(sqlite_world: StaffWorld) -> None:
    app = _app(sqlite_world)
    secure = TestClient(app, base_url="https://testserver").get("/")
    assert secure.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert "strict-transport-security" not in TestClient(app).get("/").headers
    off = TestClient(_app(sqlite_world, hsts_max_age=0), base_url="https://testserver")
    assert "strict-transport-security" not in off.get("/").headers


def test_item9_hsts_behind_a_trusted_tls_proxy(sqlite_world: StaffWorld) -> None:
    app = _app(sqlite_world, trusted_proxies="10.0.0.1")
    proxy = TestClient(app, client=("10.0.0.1", 1))
    answer = proxy.get("/", headers={"x-forwarded-proto": "https"})
    assert "strict-transport-security" in answer.headers
    stranger = TestClient(app, client=("192.0.2.1", 1))
    assert "strict-transport-security" not in stranger.get(
        "/", headers={"x-forwarded-proto": "https"}).headers


def test_item9_secure_cookie_comes_from_configuration(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    client = TestClient(_app(w, secure_cookie=True), follow_redirects=False)
    answer = sign_in(client, "cw", code=pyotp.TOTP(w.secrets["cw"]).now())
    header = answer.headers["set-cookie"].lower()  # type: ignore[attr-defined]
    assert "; secure" in header and "httponly" in header


def test_item9_secure_cookie_setting_reads_true_and_false(tmp_path: Path) -> None:
    assert load_settings(tmp_path, env={}).secure_cookie is False
    assert load_settings(tmp_path, env={"SAFEREPORT_SECURE_COOKIE": "true"}).secure_cookie
    (tmp_path / "config.toml").write_text("secure_cookie = true\nhsts_max_age = 600\n")
    settings = load_settings(tmp_path, env={})
    assert settings.secure_cookie is True and settings.hsts_max_age == 600


def test_item9_return_message_is_rate_limited(sqlite_world: StaffWorld) -> None:
    client = TestClient(create_app(sqlite_world.instance), client=("192.0.2.40", 1))
    limit = POST_LIMITS[("POST", "/return/message")][0]
    token = csrf_of(client.get("/return").text)
    codes = [client.post("/return/message", data={"csrf_token": token, "message": "hi"})
             .status_code for _ in range(limit + 1)]
    assert 429 not in codes[:limit] and codes[limit] == 429
    other = TestClient(create_app(sqlite_world.instance), client=("192.0.2.41", 1))
    assert other.post("/return/message", data={"csrf_token": token}).status_code != 429


def test_item9_staff_asks_are_rate_limited(sqlite_world: StaffWorld) -> None:
    client = signed_in(sqlite_world, "officer")
    limit = POST_LIMITS[("POST", "/staff/asks")][0]
    token = csrf_of(client.get("/staff/asks").text)
    codes = [client.post("/staff/asks", data={"csrf_token": token}).status_code
             for _ in range(limit + 1)]
    assert 429 not in codes[:limit] and codes[limit] == 429
