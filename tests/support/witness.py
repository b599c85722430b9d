"""Real HTTP servers on 127.0.0.1 for the witness tests: uvicorn in a thread or a process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from tests.support.ledger_helpers import append_n, make_ledger

from safereport.ledger import merkle
from safereport.ledger.log import Ledger
from safereport.store.db import make_engine
from safereport.store.tables import metadata


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def witness_process(state: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``safereport witness serve`` in its own process, ready to answer."""
    command = [
        sys.executable,
        "-m",
        "safereport",
        "witness",
        "serve",
        "--state",
        str(state),
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        command,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the witness process did not start") from None
                time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


def post(url: str, body: bytes) -> tuple[int, str, bytes]:
    """POST and return (status, content type, body) whatever the status."""
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash over leaf hashes (the definition, for checking tiles)."""
    if len(hashes) == 1:
        return hashes[0]
    split = 1
    while split * 2 < len(hashes):
        split *= 2
    return merkle.node_hash(mth(hashes[:split]), mth(hashes[split:]))


def forked_ledger(tmp_path: Path, entries: int) -> Ledger:
    """The same log key over another history (a rewritten log)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'fork.db'}")
    metadata.create_all(engine)
    fork = make_ledger(engine)
    append_n(fork, entries, case_id="another-history")
    return fork
