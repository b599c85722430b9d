"""The browser harness itself: Chromium starts, pages load with JS on and off, axe runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

_GOOD = """<!doctype html><html lang="en"><head><title>t</title></head>
<body><main><h1>Hello</h1><p>Text</p></main></body></html>"""
_BAD = """<!doctype html><html lang="en"><head><title>t</title></head>
<body><main><h1>Form</h1><input type="text"><img src="/x.png"></main></body></html>"""


def _app() -> FastAPI:
    app = FastAPI()
    csp = {"Content-Security-Policy": "default-src 'self'; script-src 'self'"}

    @app.get("/good", response_class=HTMLResponse)
    def good() -> HTMLResponse:
        return HTMLResponse(_GOOD, headers=csp)

    @app.get("/bad", response_class=HTMLResponse)
    def bad() -> HTMLResponse:
        return HTMLResponse(_BAD, headers=csp)

    return app


Axe = Callable[[Any], list[dict[str, Any]]]


def test_axe_finds_nothing_on_a_clean_page(
    live_server: Callable[[Any], str], page: Any, axe_violations: Axe
) -> None:
    base = live_server(_app())
    page.goto(base + "/good")
    assert page.locator("h1").inner_text() == "Hello"
    assert axe_violations(page) == []


def test_axe_catches_an_unlabelled_input(
    live_server: Callable[[Any], str], page: Any, axe_violations: Axe
) -> None:
    base = live_server(_app())
    page.goto(base + "/bad")
    ids = {v["id"] for v in axe_violations(page)}
    assert "label" in ids or "image-alt" in ids


def test_pages_load_with_javascript_off(live_server: Callable[[Any], str], page_nojs: Any) -> None:
    base = live_server(_app())
    page_nojs.goto(base + "/good")
    assert page_nojs.locator("h1").inner_text() == "Hello"
