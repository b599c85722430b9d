"""Security headers, cookieless CSRF, rate limits and lockouts."""

from __future__ import annotations

import time

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse
from tests.support.victim_client import TestClient

from safereport.web.app import create_app
from safereport.web.security import (
    CSRF_TTL_SECONDS,
    CsrfError,
    CsrfFailure,
    Lockout,
    RateLimiter,
    client_key,
    csrf_token,
    install_security,
    require_csrf,
    verify_csrf,
)


def _app() -> FastAPI:
    app = FastAPI()
    install_security(app, secret=b"k" * 32)

    @app.get("/token", response_class=PlainTextResponse)
    def token(request: Request) -> str:
        return csrf_token(request)

    @app.get("/old-token", response_class=PlainTextResponse)
    def old_token(request: Request) -> str:
        return csrf_token(request, now=time.time() - CSRF_TTL_SECONDS - 5)

    @app.post("/form", response_class=PlainTextResponse, dependencies=[Depends(require_csrf)])
    def form() -> str:
        return "accepted"

    @app.exception_handler(CsrfError)
    def refused(_request: Request, exc: CsrfError) -> PlainTextResponse:
        return PlainTextResponse(exc.failure.value, status_code=400)

    @app.get("/key", response_class=PlainTextResponse)
    def key(request: Request) -> str:
        return client_key(request, "codename")

    return app


def test_every_response_carries_the_security_headers() -> None:
    client = TestClient(create_app())
    for path in ("/healthz", "/static/site.css", "/no-such-page"):
        response = client.get(path)
        csp = response.headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert response.headers["cache-control"].startswith("no-store")
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-frame-options"] == "DENY"
        assert "set-cookie" not in response.headers


def test_a_fresh_token_is_accepted_and_sets_no_cookie() -> None:
    client = TestClient(_app())
    token = client.get("/token")
    assert "set-cookie" not in token.headers
    response = client.post("/form", data={"csrf_token": token.text})
    assert response.text == "accepted"


@pytest.mark.parametrize(
    ("token", "failure"),
    [(None, CsrfFailure.MISSING), ("garbage!", CsrfFailure.INVALID), ("AAAA", CsrfFailure.INVALID)],
)
def test_bad_tokens_are_refused(token: str | None, failure: CsrfFailure) -> None:
    client = TestClient(_app())
    data = {} if token is None else {"csrf_token": token}
    response = client.post("/form", data=data)
    assert (response.status_code, response.text) == (400, failure.value)


def test_a_tampered_token_is_refused() -> None:
    client = TestClient(_app())
    token = client.get("/token").text
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert client.post("/form", data={"csrf_token": flipped}).text == "invalid"


def test_a_stale_token_is_refused() -> None:
    client = TestClient(_app())
    token = client.get("/old-token").text
    assert client.post("/form", data={"csrf_token": token}).text == "stale"


def test_a_token_from_another_secret_is_refused() -> None:
    other = FastAPI()
    install_security(other, secret=b"x" * 32)
    token = TestClient(_app()).get("/token").text
    request = Request({"type": "http", "app": other, "headers": [], "state": {}})
    with pytest.raises(CsrfError) as caught:
        verify_csrf(request, token)
    assert caught.value.failure is CsrfFailure.INVALID


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": "null"},
        # a sandboxed frame or data: page in a browser without Sec-Fetch-Site (issue 14)
        {"origin": "null"},
    ],
)
def test_a_cross_site_post_is_refused_even_with_a_valid_token(headers: dict[str, str]) -> None:
    client = TestClient(_app())
    token = client.get("/token").text
    response = client.post("/form", data={"csrf_token": token}, headers=headers)
    assert response.text == "cross_site"


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://testserver", "sec-fetch-site": "same-origin"},
        # what Chromium sent for our own forms under the earlier Referrer-Policy: no-referrer
        {"origin": "null", "sec-fetch-site": "same-origin"},
        {"origin": "http://testserver"},
    ],
)
def test_same_origin_post_is_accepted(headers: dict[str, str]) -> None:
    client = TestClient(_app())
    token = client.get("/token").text
    assert client.post("/form", data={"csrf_token": token}, headers=headers).text == "accepted"


def test_client_key_never_contains_the_address() -> None:
    client = TestClient(_app())
    key = client.get("/key").text
    assert "testclient" not in key and "127.0.0.1" not in key
    assert len(key) == 32 and key == client.get("/key").text


def test_rate_limiter_counts_per_key_and_window() -> None:
    now = [0.0]
    limiter = RateLimiter(3, 60, clock=lambda: now[0])
    assert [limiter.hit("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit("b")
    now[0] = 61
    assert limiter.hit("a")


def test_lockout_locks_after_repeated_failures_and_expires() -> None:
    now = [0.0]
    lockout = Lockout(3, window=600, lock=900, clock=lambda: now[0])
    for _ in range(2):
        lockout.failure("k")
    assert lockout.remaining("k") == 0
    lockout.failure("k")
    assert lockout.remaining("k") == 900
    now[0] = 901
    assert lockout.remaining("k") == 0


def test_success_clears_earlier_failures() -> None:
    lockout = Lockout(2, window=600, lock=900)
    lockout.failure("k")
    lockout.success("k")
    lockout.failure("k")
    assert lockout.remaining("k") == 0


def test_web_key_file_is_private(tmp_path: object) -> None:
    from pathlib import Path

    from safereport.web.security import _load_or_create_secret

    keys = Path(str(tmp_path)) / "keys"
    first = _load_or_create_secret(keys)
    assert _load_or_create_secret(keys) == first
    assert (keys / "web.key").stat().st_mode & 0o777 == 0o600
