"""Server memory while evidence uploads stream in: a 200 MB upload is refused with a flat RSS.

A real instance is served by uvicorn in a child process on 127.0.0.1, with a victim's return
session made for it. The peer is the same server taking a small upload (a 100 KB photo-sized
body refused as "not a photo"): the growth of the server's peak resident memory (``VmHWM`` in
``/proc/<pid>/status``) over a 200 MB upload, streamed by the client in 64 KiB chunks without
a Content-Length, is compared with that peer's. The body is counted while it streams in and
refused at the configured limit (``evidence_media_max_mb``, 50 by default); what was read of
it was spooled to disk, not kept in memory. Then a file that is accepted (a 40 MB recording
kept as it is) shows what storing costs: the file, its sealed copy and the database write are
in memory at once, so that is bounded by the limit, not flat.

    .venv/bin/python benchmarks/evidence_bench.py [--mb 200]
"""

from __future__ import annotations

import argparse
import io
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx

from safereport.config import load_settings
from safereport.domain.codename import TEST_PARAMS
from safereport.domain.vocabulary import OrgKind
from safereport.services.instance import Instance
from safereport.services.intake import parse_submission, submit_report
from safereport.services.setup import init_instance
from safereport.services.users import add_org
from safereport.services.victim import open_by_codename
from safereport.store.db import make_engine

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_SERVER = """
import sys, uvicorn
from safereport.config import load_settings
from safereport.services.instance import Instance
from safereport.store.db import make_engine
from safereport.web.app import create_app
settings = load_settings(sys.argv[1])
instance = Instance(settings=settings, engine=make_engine(settings.effective_database_url()))
uvicorn.run(create_app(instance), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
            access_log=False)
"""
_CHUNK = 64 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


class _Stream(io.RawIOBase):
    """``head`` and then zeros, ``size`` bytes in all, made as they are read (no length)."""

    def __init__(self, head: bytes, size: int) -> None:
        self.head, self.left = head, size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = min(self.left, _CHUNK if size < 0 else size)
        data = (self.head + b"\x00" * n)[:n]
        self.head = self.head[n:]
        self.left -= n
        return data


def _chunks(head: bytes, size: int, token: str, *, fields: dict[str, str] | None = None,
            file_field: str = "file") -> Iterator[bytes]:
    """A multipart body made while it is sent (chunked: httpx cannot know its length)."""
    boundary = "evidencebenchboundary"
    for name, value in {"csrf_token": token, "keep_uncleaned": "1", **(fields or {})}.items():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
               f"{value}\r\n").encode()
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; "
           f"filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    stream = _Stream(head, size)
    while chunk := stream.read(_CHUNK):
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def _upload(client: httpx.Client, head: bytes, size: int) -> str:
    token = _TOKEN.search(client.get("/return/evidence").text)
    assert token is not None
    try:
        answer = client.post(
            "/return/evidence", content=_chunks(head, size, token.group(1)),
            headers={"content-type": "multipart/form-data; boundary=evidencebenchboundary"})
    except httpx.HTTPError as exc:  # the server may close the connection once it refused
        return f"connection closed ({type(exc).__name__})"
    page = client.get("/return/evidence").text
    if "too large" in page:
        return f"{answer.status_code}, refused: too large"
    if "has been added" in page:
        return f"{answer.status_code}, stored"
    return f"{answer.status_code}, refused"


def _upload_report(client: httpx.Client, head: bytes, size: int) -> str:
    """The same body as her recorded answer on the report form (issue 18): no session needed."""
    token = _TOKEN.search(client.get("/report").text)
    assert token is not None
    fields = {"mode": "anonymous", "crime_type": "other", "narrative": ""}
    try:
        answer = client.post(
            "/report", content=_chunks(head, size, token.group(1), fields=fields,
                                       file_field="voice"),
            headers={"content-type": "multipart/form-data; boundary=evidencebenchboundary"})
    except httpx.HTTPError as exc:
        return f"connection closed ({type(exc).__name__})"
    return f"{answer.status_code}, " + ("refused: too large" if answer.status_code == 413
                                        else "not refused")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the oversized upload")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = init_instance(Path(tmp) / "instance")
        settings = load_settings(path)
        instance = Instance(settings=replace(settings, argon2=TEST_PARAMS),
                            engine=make_engine(settings.effective_database_url()))
        with instance.engine.begin() as conn:
            add_org(conn, "Safe Haven Support", OrgKind.SUPPORT_SERVICE)
        made = submit_report(instance, parse_submission(
            {"mode": "codename", "crime_type": "domestic_abuse", "narrative": "Synthetic."}))
        assert made.codename is not None
        session = open_by_codename(instance, made.codename)
        assert session is not None
        from safereport.web.victim_session import COOKIE, DatabaseReturnSessions

        opaque = DatabaseReturnSessions(instance).start(session)
        port = _free_port()
        child = subprocess.Popen([sys.executable, "-c", _SERVER, str(path), str(port)])
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            client = httpx.Client(base_url=base, timeout=300,
                                  cookies=httpx.Cookies({COOKIE: opaque}))
            client.cookies.set(COOKIE, opaque, path="/return")
            _upload(client, b"<html>", 100 * 1024)  # warm every code path once
            start = _peak_mb(child.pid)
            peer = _upload(client, b"<html>", 100 * 1024)
            after_peer = _peak_mb(child.pid)
            big = _upload(client, b"\x00\x00\x00\x18ftypmp42", args.mb * 1024 * 1024)
            after_big = _peak_mb(child.pid)
            form = _upload_report(client, b"\x00\x00\x00\x18ftypmp42", args.mb * 1024 * 1024)
            after_form = _peak_mb(child.pid)
            kept = _upload(client, b"\x00\x00\x00\x18ftypmp42", 40 * 1024 * 1024)
            after_kept = _peak_mb(child.pid)
        finally:
            child.terminate()
            child.wait(timeout=30)
        peer_growth = after_peer - start
        big_growth = after_big - after_peer
        print("server peak RSS (VmHWM) of one uvicorn worker on 127.0.0.1, SQLite")
        print(f"  at start (warmed up)              {start:8.1f} MiB")
        print(f"  peer: 100 KB upload ({peer})  +{peer_growth:.1f} MiB")
        print(f"  {args.mb} MB upload ({big})  +{big_growth:.1f} MiB")
        print(f"  {args.mb} MB recorded answer on the report form ({form})  "
              f"+{after_form - after_big:.1f} MiB")
        print(f"  40 MB recording kept ({kept})  +{after_kept - after_form:.1f} MiB")
        meets = big_growth < 16
        print(f"RESULT evidence_oversized_upload_peak_rss_growth_mib {big_growth:.1f} "
              f"target < 16 {'meets' if meets else 'MISSES'}")
        ratio = (big_growth + 1) / (peer_growth + 1)
        print(f"RESULT evidence_oversized_vs_small_upload_rss_growth_ratio {ratio:.2f} "
              f"target < 4 {'meets' if ratio < 4 else 'MISSES'}")
        # Measured before a file is kept (which raises the peak for good): the refused report
        # form's growth over the refused upload's peak.
        form_growth = after_form - after_big
        print(f"RESULT report_form_oversized_upload_peak_rss_growth_mib {form_growth:.1f} "
              f"target < 16 {'meets' if form_growth < 16 else 'MISSES'}")


if __name__ == "__main__":
    main()
