"""A 200 MB upload is refused early with a clear message, the server's memory flat (issue 18).

A real ``safereport serve`` runs in a child process on 127.0.0.1 (SQLite, one worker). A body of
200 MB, made while it is sent (nothing of it stored anywhere), is streamed without a
Content-Length, as a recorded answer to the report form (``/report``) and as a file to her
evidence page (``/return/evidence``, her session made for the test in the database). Each is
refused with the clear message in her words, nothing is stored, and the growth of the server's
peak resident memory (``VmHWM`` in ``/proc/<pid>/status``) over both, after a small upload to
each has warmed every code path, stays under :data:`BOUND_MIB`. The measured growth is printed
(``MEASURED ...``); docs/victim.md ("Evidence attachments") quotes it. No timings are asserted.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from safereport.config import load_settings
from safereport.domain.vocabulary import OrgKind
from safereport.services.instance import Instance
from safereport.services.intake import parse_submission, submit_report
from safereport.services.setup import init_instance
from safereport.services.users import add_org
from safereport.services.victim import open_by_codename
from safereport.store.db import make_engine
from safereport.store.evidence import evidence_files
from safereport.store.report_drafts import report_draft_files
from safereport.web.victim_session import COOKIE, DatabaseReturnSessions

pytestmark = pytest.mark.slow

MB = 1024 * 1024
BIG = 200 * MB
#: How much the server's peak resident memory may grow over both 200 MB uploads.
BOUND_MIB = 32
CHUNK = 64 * 1024
BOUNDARY = "bigbodyboundary"
#: A recording's first bytes: a file of a type the server takes, so only its size refuses it.
HEAD = b"\x00\x00\x00\x18ftypmp42"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
TOO_LARGE = "The file is too large: the largest we can take is 50 MB. Nothing was saved."


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


def _body(fields: dict[str, str], file_field: str, size: int) -> Iterator[bytes]:
    """A multipart body made while it is sent: ``size`` bytes of file (a recording's head,
    then zeros), never held whole anywhere."""
    for name, value in fields.items():
        yield (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
               f"{value}\r\n").encode()
    yield (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{file_field}"; '
           'filename="voice.mp4"\r\nContent-Type: audio/mp4\r\n\r\n').encode()
    yield HEAD
    zeros = b"\x00" * CHUNK
    left = size - len(HEAD)
    while left > 0:
        yield zeros[:min(left, CHUNK)]
        left -= CHUNK
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _post(client: httpx.Client, path: str, fields: dict[str, str], file_field: str,
          size: int) -> httpx.Response:
    return client.post(path, content=_body(fields, file_field, size), headers={
        "content-type": f"multipart/form-data; boundary={BOUNDARY}"})


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """(the serve process, its base URL, her return session's cookie value)."""
    path = init_instance(tmp_path / "instance")
    settings = load_settings(path, env={})
    instance = Instance(settings=settings, engine=make_engine(settings.effective_database_url()))
    try:
        with instance.engine.begin() as conn:
            add_org(conn, "Safe Haven Support", OrgKind.SUPPORT_SERVICE)
        made = submit_report(instance, parse_submission(
            {"mode": "codename", "crime_type": "domestic_abuse", "narrative": "Synthetic."}))
        assert made.codename is not None
        session = open_by_codename(instance, made.codename)
        assert session is not None
        cookie = DatabaseReturnSessions(instance).start(session)
    finally:
        instance.close()
    port = _free_port()
    env = {**os.environ, "SAFEREPORT_SCHEDULER": "false"}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "safereport", "--data-dir", str(path), "serve",
             "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # up to a minute for it to listen (not a timing assertion)
            assert child.poll() is None, log.read_text(errors="replace")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError("safereport serve did not answer")
        yield child, base, cookie
    finally:
        child.terminate()
        child.wait(timeout=30)


def _counts(data_dir: Path) -> tuple[int, int]:
    settings = load_settings(data_dir, env={})
    engine = make_engine(settings.effective_database_url())
    try:
        with engine.connect() as conn:
            return (int(conn.execute(select(func.count()).select_from(report_draft_files))
                        .scalar_one()),
                    int(conn.execute(select(func.count()).select_from(evidence_files))
                        .scalar_one()))
    finally:
        engine.dispose()


def test_a_200_mb_upload_is_refused_with_a_flat_memory(
        server: tuple[subprocess.Popen[bytes], str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    child, base, cookie = server
    client = httpx.Client(base_url=base, timeout=600, follow_redirects=False)  # a new visitor
    her = httpx.Client(base_url=base, timeout=600, follow_redirects=False)  # signed in
    her.cookies.set(COOKIE, cookie, path="/return")

    def report(size: int) -> httpx.Response:
        token = _TOKEN.search(client.get("/report").text)
        assert token is not None
        fields = {"csrf_token": token.group(1), "mode": "anonymous", "crime_type": "other",
                  "narrative": ""}
        return _post(client, "/report", fields, "voice", size)

    def evidence(size: int) -> tuple[httpx.Response, str]:
        token = _TOKEN.search(her.get("/return/evidence").text)
        assert token is not None
        fields = {"csrf_token": token.group(1), "keep_uncleaned": "1"}
        answer = _post(her, "/return/evidence", fields, "file", size)
        return answer, her.get("/return/evidence").text  # the page says what happened

    # Warm every code path with a small upload to each (a 100 KB recording: taken).
    small = report(100 * 1024)
    assert small.status_code == 303  # to "check your answers"
    warm, page = evidence(100 * 1024)
    assert warm.status_code == 303
    data_dir = tmp_path / "instance"
    stored = _counts(data_dir)
    start = _peak_mib(child.pid)

    refused = report(BIG)
    after_report = _peak_mib(child.pid)
    assert refused.status_code == 413
    assert TOO_LARGE in refused.text  # at the file, in her words
    answer, page = evidence(BIG)
    after_evidence = _peak_mib(child.pid)
    # Her pages answer with a redirect (nothing of the POST in her history); the page then
    # says why, once.
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/return/evidence")
    assert TOO_LARGE in page
    assert _counts(data_dir) == stored  # nothing of either kept
    assert child.poll() is None  # still serving
    assert client.get("/healthz").status_code == 200
    assert "Traceback" not in (tmp_path / "serve.log").read_text(errors="replace")

    growth = after_evidence - start
    with capsys.disabled():
        print(f"\nMEASURED server peak RSS (VmHWM) at start {start:.1f} MiB; 200 MB to /report "
              f"+{after_report - start:.1f} MiB; 200 MB to /return/evidence "
              f"+{after_evidence - after_report:.1f} MiB; both +{growth:.1f} MiB "
              f"(bound {BOUND_MIB} MiB)")
    assert growth < BOUND_MIB
