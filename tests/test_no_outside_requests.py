"""I4: nothing the pages load comes from another host (no CDN, fonts, analytics, maps)."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "src" / "safereport" / "web"
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
