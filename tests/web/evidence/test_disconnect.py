"""A connection dropped in the middle of an upload leaves nothing behind (issue 18).

Each upload route (the report form ``/report``, her evidence page ``/return/evidence``, the
staff evidence page) is called at the ASGI level, as a server calls it, with a valid form whose
body stops part-way (then ``http.disconnect``, as when her phone loses its signal or she closes
the tab): in the middle of a file already past Starlette's 1 MiB spool (so on disk), or with
the whole file sent but not the closing boundary. The file is one the server would keep as it
is (a recording, ``keep_uncleaned``), so a truncated body taken for a whole one would be stored.

Afterwards: no ``report_draft_files`` or ``evidence_files`` row, no temporary file in the
upload folder (``tempfile.tempdir``, pointed at an empty folder) and none still open by the
process (``/proc/self/fd``), and the same app then takes a whole upload as usual.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import func, select
from tests.support.staff_client import TestClient, csrf_of, signed_in
from tests.support.staff_world import StaffWorld
from tests.web.evidence.test_web import her

from safereport.store.evidence import evidence_files
from safereport.store.report_drafts import report_draft_files
from safereport.web.app import create_app

BOUNDARY = "disconnectboundary"
CHUNK = 64 * 1024
#: A recording (kept as it is): 3 MiB, past the 1 MiB spool, within every limit.
RECORDING = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * (3 * 1024 * 1024 - 12)
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _multipart(fields: dict[str, str], file_field: str) -> bytes:
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
             f"{value}\r\n".encode() for name, value in fields.items()]
    parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{file_field}"; '
                 'filename="voice.mp4"\r\nContent-Type: audio/mp4\r\n\r\n'.encode())
    return b"".join(parts) + RECORDING + f"\r\n--{BOUNDARY}--\r\n".encode()


def _cut(body: bytes, where: str) -> bytes:
    """The part of ``body`` that arrives before the connection drops."""
    if where == "mid_file":
        return body[:body.index(RECORDING) + 2 * 1024 * 1024]
    return body[:body.rindex(f"\r\n--{BOUNDARY}--".encode())]  # the whole file, no end


def _call(app: Any, path: str, headers: list[tuple[bytes, bytes]], body: bytes, *,
          whole: bool) -> tuple[int | None, BaseException | None]:
    """POST ``body`` in chunks, then (unless ``whole``) ``http.disconnect``: (status sent,
    the exception the app raised, if any)."""
    chunks = [body[i:i + CHUNK] for i in range(0, len(body), CHUNK)]
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks) or not whole}
        if whole:  # a server says so once the response is sent
            await anyio.sleep_forever()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("198.51.100.7", 4000), "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"),
                    (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
                    *headers],
    }
    raised: BaseException | None = None

    async def run() -> None:
        nonlocal raised
        try:
            await app(scope, receive, send)
        except Exception as exc:  # what a server would log; the test says which
            raised = exc

    anyio.run(run)
    return (status[0] if status else None), raised


@dataclass
class Door:
    """One upload route, with what a person who may use it sends along."""

    app: Any
    path: str
    headers: list[tuple[bytes, bytes]]
    fields: dict[str, str]
    file_field: str


def _cookie_header(client: TestClient) -> tuple[bytes, bytes]:
    return b"cookie", "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar).encode()


def _report_door(world: StaffWorld, request: pytest.FixtureRequest) -> Door:
    app = create_app(world.instance)
    client = TestClient(app, follow_redirects=False)
    token = csrf_of(client.get("/report").text)
    fields = {"csrf_token": token, "mode": "anonymous", "crime_type": "other",
              "narrative": "", "keep_uncleaned": "1"}
    return Door(app, "/report", [_cookie_header(client)] if client.cookies else [], fields,
                "voice")


def _her_door(world: StaffWorld, request: pytest.FixtureRequest) -> Door:
    client, _session = request.getfixturevalue("her")  # signed in on her return page
    token = csrf_of(client.get("/return/evidence").text)
    return Door(client.app, "/return/evidence", [_cookie_header(client)],
                {"csrf_token": token, "keep_uncleaned": "1"}, "file")


def _staff_door(world: StaffWorld, request: pytest.FixtureRequest) -> Door:
    case_id = world.file("cw").case_id
    app = create_app(world.instance)
    client = signed_in(world, "cw", TestClient(app, follow_redirects=False))
    path = f"/staff/cases/{case_id}/evidence"
    token = csrf_of(client.get(path).text)
    return Door(app, path, [_cookie_header(client)],
                {"csrf_token": token, "keep_uncleaned": "1"}, "file")


__all__ = ["her"]  # her return session (tests/web/evidence/test_web.py), for her door

DOORS = {"report": _report_door, "her_evidence": _her_door, "staff_evidence": _staff_door}


@pytest.fixture
def upload_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Where Starlette spools uploads (``tempfile``'s folder), empty to begin with."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder


def _rows(world: StaffWorld) -> tuple[int, int]:
    with world.instance.engine.connect() as conn:
        drafts = conn.execute(select(func.count()).select_from(report_draft_files)).scalar_one()
        kept = conn.execute(select(func.count()).select_from(evidence_files)).scalar_one()
    return int(drafts), int(kept)


def _open_in(folder: Path) -> list[str]:
    """The process's open files in ``folder`` (an unnamed temporary file shows there too)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


@pytest.mark.parametrize("where", ["mid_file", "before_the_end"])
@pytest.mark.parametrize("door", sorted(DOORS))
def test_a_dropped_upload_leaves_nothing_behind(sqlite_world: StaffWorld, upload_dir: Path,
                                                door: str, where: str,
                                                request: pytest.FixtureRequest) -> None:
    world = sqlite_world
    route = DOORS[door](world, request)
    before = _rows(world)
    body = _multipart(route.fields, route.file_field)
    status, raised = _call(route.app, route.path, route.headers, _cut(body, where), whole=False)
    # Not a server error (no traceback in the log for each lost signal), never a redirect as
    # if stored: the answer goes nowhere, but says what happened.
    assert raised is None, repr(raised)
    assert status == 400
    assert _rows(world) == before
    assert list(upload_dir.iterdir()) == []
    assert _open_in(upload_dir) == []
    # The server keeps serving: the same route takes the whole body.
    status, raised = _call(route.app, route.path, route.headers, body, whole=True)
    assert raised is None
    assert status == 303  # stored (her report: a draft, then "check your answers")
    drafts, kept = _rows(world)
    if door == "report":
        assert drafts == before[0] + 1
    else:
        assert kept == before[1] + 1
    assert _open_in(upload_dir) == []
