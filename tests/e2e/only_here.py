"""The guard that fails a browser test on any request to a host other than 127.0.0.1 (I4).

``only_here`` (a fixture): every browser context the test opens (``page``, ``page_nojs``, or
its own ``browser.new_context()``) has its requests routed through :func:`allowed`; a request
elsewhere is aborted, recorded, and fails the test at teardown. It also refuses, in this
process (the live server runs in a thread of it), any socket connection or name lookup for a
host other than 127.0.0.1, so the server cannot reach out either.

Modules use it with ``pytestmark = [..., pytest.mark.usefixtures("only_here")]`` and import it
(``from tests.e2e.only_here import only_here  # noqa: F401``);
tests/test_no_outside_requests.py checks that every bot test module does.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

__all__ = ["allowed", "only_here"]

_HERE = "127.0.0.1"


def allowed(url: str) -> bool:
    """True for a URL the browser may load: http(s) on 127.0.0.1, or nothing on the network."""
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about"}:
        return True
    return parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname == _HERE


class _Guard:
    def __init__(self) -> None:
        self.outside: list[str] = []
        self.seen = 0

    def handle(self, route: Any) -> None:
        url = str(route.request.url)
        self.seen += 1
        if allowed(url):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def address(self, host: Any) -> None:
        if isinstance(host, tuple) and host and isinstance(host[0], str):
            host = host[0]
        if isinstance(host, str) and host not in {_HERE, "localhost"}:
            self.outside.append(f"socket to {host}")
            raise OSError(f"only_here: no connection to {host} (only {_HERE})")


@pytest.fixture
def only_here(browser: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    guard = _Guard()
    opened = browser.new_context
    contexts: list[Any] = []

    def new_context(*args: Any, **kwargs: Any) -> Any:
        context = opened(*args, **kwargs)
        context.route("**/*", guard.handle)
        contexts.append(context)
        return context

    monkeypatch.setattr(browser, "new_context", new_context)
    connect = socket.socket.connect
    lookup = socket.getaddrinfo

    def guarded_connect(sock: socket.socket, address: Any) -> Any:
        if sock.family in {socket.AF_INET, socket.AF_INET6}:
            guard.address(address)
        return connect(sock, address)

    def guarded_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host is not None:
            guard.address(host)
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)
    yield guard.outside
    assert guard.outside == [], f"requests left 127.0.0.1: {guard.outside[:5]}"
    assert not contexts or guard.seen > 0, "the guard saw no request: it is not in the way"
