"""Item 5: forwarding headers only from configured proxies; no lock-out for everyone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from tests.support.staff_client import TestClient, csrf_of
from tests.support.staff_web import client_from
from tests.support.staff_world import StaffWorld

from safereport.cli import main
from safereport.config import load_settings
from safereport.domain.codename import new_codename
from safereport.errors import ConfigError
from safereport.services.instance import Instance
from safereport.web.app import create_app
from safereport.web.security import client_key, install_security


def _with(world: StaffWorld, **settings: Any) -> FastAPI:
    changed = replace(world.instance.settings, **settings)
    return create_app(Instance(settings=changed, engine=world.instance.engine))


def _wrong_codename(client: TestClient, forwarded_for: str | None = None) -> int:
    page = client.get("/return")
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
    answer = client.post("/return", data={"csrf_token": csrf_of(page.text),
                                          "codename": new_codename()}, headers=headers)
    return answer.status_code


def test_item5_serve_and_demo_never_let_uvicorn_trust_forwarding_headers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    target = tmp_path / "inst"
    runner = CliRunner()
    assert runner.invoke(main, ["--data-dir", str(target), "init"]).exit_code == 0
    assert runner.invoke(main, ["--data-dir", str(target), "serve"]).exit_code == 0
    assert runner.invoke(main, ["--data-dir", str(tmp_path / "d"), "demo", "--keep",
                                "--cases", "2"]).exit_code == 0
    assert len(calls) == 2 and all(kw.get("proxy_headers") is False for kw in calls)


def test_item5_forwarded_for_is_ignored_from_an_untrusted_peer(sqlite_world: StaffWorld) -> None:
    client = client_from(sqlite_world, "127.0.0.1")
    answers = [_wrong_codename(client, f"192.0.2.{n}") for n in range(7)]
    assert answers == [400] * 5 + [429] * 2


def test_item5_behind_a_trusted_proxy_each_client_has_its_own_throttle(
        sqlite_world: StaffWorld) -> None:
    app = _with(sqlite_world, trusted_proxies="10.0.0.0/8, 127.0.0.1")
    proxy = TestClient(app, follow_redirects=False, client=("10.1.2.3", 5000))
    answers = [_wrong_codename(proxy, "198.51.100.20, 10.9.9.9") for _ in range(6)]
    assert answers == [400] * 5 + [429]
    # Another person behind the same proxy is not shut out by the first one's failures.
    assert _wrong_codename(proxy, "198.51.100.21") == 400


def test_item5_failures_from_many_sources_do_not_lock_out_everyone(
        sqlite_world: StaffWorld) -> None:
    app = _with(sqlite_world, codename_failures_per_minute=10)
    for n in range(12):
        assert _wrong_codename(TestClient(app, client=(f"192.0.2.{n}", 1))) == 400
    # Someone else, from her own address, still gets her codename checked (no 429).
    assert _wrong_codename(TestClient(app, client=("198.51.100.50", 1))) == 400


def _key_app() -> FastAPI:
    app = FastAPI()
    install_security(app, secret=b"k" * 32)

    @app.get("/key", response_class=PlainTextResponse)
    def key(request: Request) -> str:
        return client_key(request, "x")

    return app


def test_item5_an_ipv6_client_counts_by_its_64() -> None:
    app = _key_app()

    def key(address: str) -> str:
        return TestClient(app, client=(address, 1)).get("/key").text

    assert key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff::9")
    assert key("2001:db8:1:2::1") != key("2001:db8:1:3::1")
    assert key("192.0.2.1") != key("192.0.2.2")


def test_item5_trusted_proxies_setting_is_validated(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('trusted_proxies = "10.0.0.0/8 ::1"\n')
    assert load_settings(tmp_path).trusted_proxies == "10.0.0.0/8 ::1"
    with pytest.raises(ConfigError, match="trusted_proxies"):
        load_settings(tmp_path, env={"SAFEREPORT_TRUSTED_PROXIES": "not-an-address"})
