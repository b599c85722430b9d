"""Item 4: a body without Content-Length is counted while it streams, on every route."""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest
from tests.support.staff_world import StaffWorld

from safereport.web.app import create_app
from safereport.web.security import MAX_REQUEST_BYTES

CHUNK = 16 * 1024
OFFERED = 4096  # chunks: 64 MiB if anyone read them all


def _post(app: Any, path: str) -> tuple[int, int]:
    """POST a chunked (no Content-Length) body of OFFERED chunks; (status, bytes pulled)."""
    pulled = 0
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= OFFERED * CHUNK:
            return {"type": "http.disconnect"}
        pulled += CHUNK
        return {"type": "http.request", "body": b"a=" + b"x" * (CHUNK - 2),
                "more_body": pulled < OFFERED * CHUNK}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("198.51.100.7", 4000), "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"),
                    (b"content-type", b"application/x-www-form-urlencoded"),
                    (b"transfer-encoding", b"chunked")],
    }

    async def run() -> None:
        await app(scope, receive, send)

    anyio.run(run)
    return status[0], pulled


def _post_paths(routes: list[Any], prefix: str = "") -> list[str]:
    """Every POST route's path (ids filled in), through included routers."""
    paths = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            paths += _post_paths(included.routes, prefix + route.include_context.prefix)
        elif "POST" in (getattr(route, "methods", None) or ()):
            paths.append(prefix + re.sub(r"\{[^}]+\}", "0" * 32, route.path))
    return sorted(set(paths))


@pytest.mark.parametrize("path", ["/report", "/return", "/return/message", "/claim",
                                  "/staff/sign-in"])
def test_item4_a_chunked_body_is_refused_while_it_streams(sqlite_world: StaffWorld,
                                                          path: str) -> None:
    status, pulled = _post(create_app(sqlite_world.instance), path)
    assert status == 413
    assert pulled <= MAX_REQUEST_BYTES + CHUNK


def test_item4_no_post_route_reads_past_the_limit(sqlite_world: StaffWorld) -> None:
    app = create_app(sqlite_world.instance)
    paths = _post_paths(app.routes)
    assert len(paths) > 20
    for path in paths:
        status, pulled = _post(app, path)
        assert status != 500, path
        assert pulled <= MAX_REQUEST_BYTES + CHUNK, path
