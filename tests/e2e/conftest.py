"""Real-browser fixtures: Debian's Chromium driven by Playwright, axe-core injected from npm.

* ``live_server(app)``: serves an ASGI app with uvicorn on 127.0.0.1 (a free port) in a
  thread and returns its base URL.
* ``browser``: one headless Chromium per session (``/usr/bin/chromium``, no downloads).
* ``page`` / ``page_nojs``: a fresh context each, with JavaScript on / off.
* ``axe_violations`` (a fixture) ``(page)``: serious and critical axe-core violations.

Chromium and axe-core are installed by ``tasks.py test`` (and so by ``.ci/run``); if either is
missing these tests fail rather than skip.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

CHROMIUM = Path("/usr/bin/chromium")
AXE_JS = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test runner owns signals
        pass


@pytest.fixture
def live_server() -> Iterator[Callable[[Any], str]]:
    """A factory: ``live_server(app)`` serves ``app`` and returns ``http://127.0.0.1:PORT``."""
    servers: list[tuple[_ThreadedServer, threading.Thread]] = []

    def serve(app: Any) -> str:
        port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                lifespan="off")
        server = _ThreadedServer(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield serve
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: sync Playwright keeps an event loop running in the main
    # thread while it is started, and later suites (asyncio.run in their own tests) must not
    # find one; one Chromium start per browser test module costs about a second.
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed (run `python3 tasks.py test`)")
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _context_page(browser: Any, *, javascript: bool) -> Iterator[Any]:
    context = browser.new_context(java_script_enabled=javascript, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    yield from _context_page(browser, javascript=True)


@pytest.fixture
def page_nojs(browser: Any) -> Iterator[Any]:
    yield from _context_page(browser, javascript=False)


@pytest.fixture
def axe_violations() -> Callable[[Any], list[dict[str, Any]]]:
    """``axe_violations(page)``: see :func:`_axe_violations`."""
    return _axe_violations


def _axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations (WCAG 2.x A/AA rules) on the current page.

    Works with JavaScript disabled for the page's own scripts: Playwright's evaluate runs in an
    isolated world only when JS is enabled, so pages tested with JS off are re-opened with JS on
    for the audit by the caller.
    """
    if not AXE_JS.exists():
        pytest.fail("axe-core is not installed (run `python3 tasks.py test`)")
    # evaluate() runs over the DevTools protocol, which a page's CSP does not block (an
    # injected <script> tag would be, and rightly so).
    page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => await axe.run(document, {runOnly: {type: 'tag',
             values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})"""
    )
    return [v for v in result["violations"] if v.get("impact") in {"serious", "critical"}]


@pytest.fixture
def staff_world(tmp_path: Path) -> Iterator[Any]:
    """A staff world on SQLite (tests/support/staff_world.py) whose passwords hash cheaply."""
    from tests.support.staff_world import make_staff_world

    made = make_staff_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    yield made
    made.instance.close()
