"""I4: nothing the pages load comes from another host (no CDN, fonts, analytics, maps).

Issue 19 extends it: the bot defences' pages as served (the challenge endpoint, the "Please
wait" page, the quarantine pages) load nothing from elsewhere, and every browser test of them,
the flood on 127.0.0.1 included, runs behind the guard in tests/e2e/only_here.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from tests.support.paths import ROOT

WEB = ROOT / "src" / "safereport" / "web"
# Anything that makes the browser fetch: src/srcset/poster/data attributes, <link href>,
# CSS url() and @import, and script calls that reach the network.
_LOADS = re.compile(
    r"""(?:\b(?:src|srcset|poster|data|action)\s*=\s*["']\s*(?:https?:)?//)"""
    r"""|(?:<link\b[^>]*\bhref\s*=\s*["']\s*(?:https?:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:@import\s+["']?(?:url\()?\s*["']?(?:https?:)?//)"""
    r"""|(?:\b(?:fetch|importScripts|sendBeacon|EventSource|WebSocket)\s*\(\s*["'`](?:https?|wss?):)""",
    re.IGNORECASE,
)


def test_templates_and_static_files_load_nothing_from_elsewhere() -> None:
    offenders = []
    for path in WEB.rglob("*"):
        if path.suffix not in {".html", ".css", ".js", ".svg", ".j2"}:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _LOADS.search(line):
                offenders.append(f"{path.relative_to(WEB)}:{number}: {line.strip()[:120]}")
    assert offenders == []


def test_the_scan_catches_what_it_should() -> None:
    for bad in ('<script src="https://cdn.example.net/x.js">', '<img src="//t.example/p.gif">',
                '<link rel="stylesheet" href="https://fonts.example/css">',
                "body { background: url(https://x.example/a.png) }", '@import "https://x/y.css";',
                'fetch("https://analytics.example/collect")'):
        assert _LOADS.search(bad), bad
    for fine in ('<a href="https://www.bbc.co.uk/weather">', '<img src="/static/a.png">',
                 "url(/static/a.woff2)"):
        assert not _LOADS.search(fine), fine


# -- issue 19: the bot defences' own pages, served, and the browser tests' guard ------------

_E2E = Path(__file__).resolve().parent / "e2e"
_ANY_URL = re.compile(r"(?:https?:|wss?:)?//[^\s\"'<>]+", re.IGNORECASE)
#: Browser test modules of issue 19: each must run every page through tests/e2e/only_here.py.
_BOT_BROWSER_TESTS = ("test_bots.py", "test_bots_keyboard.py", "test_bots_flood.py",
                      "test_staff_quarantine.py")


def _only_this_server(answer: Any) -> None:
    """The answer loads nothing from elsewhere, and its policy forbids the browser to."""
    offenders = [line.strip()[:120] for line in answer.text.splitlines() if _LOADS.search(line)]
    assert offenders == [], (answer.url, offenders)
    for directive in answer.headers["content-security-policy"].split(";"):
        name, *sources = directive.split()
        if name not in {"frame-ancestors", "base-uri"}:
            assert set(sources) <= {"'self'", "'none'", "data:"}, (answer.url, directive)


def test_the_bot_defences_pages_as_served_load_nothing_from_elsewhere(tmp_path: Path) -> None:
    """The challenge endpoint, the "Please wait" page, the card after a held report, and the
    quarantine list and report pages, served by a real instance."""
    import warnings
    from dataclasses import replace

    from tests.support.staff_client import csrf_of, signed_in
    from tests.support.staff_world import make_staff_world

    from safereport.services import quarantine
    from safereport.web.app import create_app

    with warnings.catch_warnings():  # its httpx deprecation warning would be an error here
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    world = make_staff_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    try:
        world.instance.settings = replace(world.instance.settings, form_wait_seconds=600)
        app = create_app(world.instance)
        public = TestClient(app, follow_redirects=False)
        form = public.get("/report?lang=ar")
        _only_this_server(form)
        challenge = public.get("/forms/challenge")
        assert challenge.status_code == 200 and _ANY_URL.search(challenge.text) is None
        assert set(challenge.json()) >= {"algorithm", "challenge", "salt", "signature"}
        report = {"mode": "anonymous", "crime_type": "other", "lang": "ar",
                  "narrative": "Synthetic: he reads my messages every night."}
        wait = public.post("/report", data={**report, "csrf_token": csrf_of(form.text)})
        assert wait.status_code == 429 and "ثم اضغطي الزر مرة أخرى" in wait.text
        _only_this_server(wait)
        caught = public.post("/report", data={**report, "csrf_token": csrf_of(wait.text),
                                              "website": "http://watches.example"})
        assert caught.status_code == 303
        _only_this_server(public.get(caught.headers["location"]))
        staff = signed_in(world, "cw", TestClient(app, follow_redirects=False))
        listing = staff.get("/staff/quarantine")
        _only_this_server(listing)
        held = quarantine.list_held(world.instance, world.users["cw"])[0]
        assert len(held) == 1
        _only_this_server(staff.get(f"/staff/quarantine/{held[0].case_id}"))
    finally:
        world.instance.close()


def test_every_bot_browser_test_goes_through_the_guard() -> None:
    """Each module's ``pytestmark`` uses the ``only_here`` fixture, which routes every request
    of every browser context (and every socket of the process) through the 127.0.0.1 check."""
    for name in _BOT_BROWSER_TESTS:
        tree = ast.parse((_E2E / name).read_text(encoding="utf-8"))
        marks = [node.value for node in tree.body if isinstance(node, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)]
        used = [call for mark in marks for call in ast.walk(mark)
                if isinstance(call, ast.Call) and ast.unparse(call.func).endswith("usefixtures")
                and any(isinstance(a, ast.Constant) and a.value == "only_here" for a in call.args)]
        assert used, f"tests/e2e/{name} does not use the only_here guard"
    flooded = (_E2E / "test_bots_flood.py").read_text(encoding="utf-8")
    assert "127.0.0.1" in flooded and "live_server" in flooded


def test_the_guard_refuses_every_other_host() -> None:
    from tests.e2e.only_here import _Guard, allowed

    for fine in ("http://127.0.0.1:8000/report", "http://127.0.0.1:41234/forms/challenge",
                 "data:image/png;base64,AAAA", "about:blank"):
        assert allowed(fine), fine
    for outside in ("https://cdn.example.net/altcha.js", "http://localhost.example/x",
                    "http://127.0.0.2:8000/", "https://eu.altcha.org/api/v1/challenge",
                    "http://[::1]:8000/", "ws://203.0.113.5/socket", "file:///etc/passwd"):
        assert not allowed(outside), outside
    guard = _Guard()
    guard.address(("127.0.0.1", 5432))
    for host in (("203.0.113.5", 443), "rest.akismet.com"):
        try:
            guard.address(host)
        except OSError:
            continue
        raise AssertionError(f"the guard let {host} through")
    assert guard.outside == ["socket to 203.0.113.5", "socket to rest.akismet.com"]
