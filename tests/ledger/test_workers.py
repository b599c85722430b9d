"""``safereport serve --workers N``: several processes serve guarded reads over one ledger."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.support.paths import ROOT

from safereport.domain.fields import CaseField
from safereport.domain.vocabulary import ActorRole, CrimeType, OrgKind, SubjectRole
from safereport.ledger import tree
from safereport.services import auth, casework
from safereport.services.instance import open_instance
from safereport.services.setup import init_instance
from safereport.services.users import add_org

WORKERS = 2
REQUESTS = 24


def _setup(data_dir: Path, database_url: str | None) -> tuple[str, str]:
    init_instance(data_dir, database_url=database_url)
    instance = open_instance(data_dir)
    with instance.engine.begin() as conn:
        org = add_org(conn, "Workers Support", OrgKind.SUPPORT_SERVICE)
        user_id = auth.create_user(conn, org_id=org, username="cw", display_name="CW",
                                   role=ActorRole.CASEWORKER, password="a long password 1")
        user = auth.get_user(conn, user_id)
        assert user is not None
        token = auth.start_session(conn, user, auth.SessionState.ACTIVE)
    filed = casework.file_third_party_report(
        instance, user, crime_type=CrimeType.DOMESTIC_ABUSE, subject_role=SubjectRole.VICTIM,
        values={CaseField.NAME: "Synthetic Person", CaseField.NARRATIVE: "Synthetic."})
    instance.close()
    return filed.case_id, token


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


async def _read_pages(url: str, token: str) -> list[tuple[int, str]]:
    async with httpx.AsyncClient(cookies={"sr_staff": token}, timeout=60) as client:
        answers = await asyncio.gather(*(client.get(url) for _ in range(REQUESTS)))
    return [(answer.status_code, answer.text) for answer in answers]


@pytest.mark.slow
def test_serve_with_several_workers(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = db_url if db_url.startswith("postgresql") else None
    monkeypatch.delenv("SAFEREPORT_DATABASE_URL", raising=False)
    if database_url:  # the instance's database is named by the environment, never config
        monkeypatch.setenv("SAFEREPORT_DATABASE_URL", database_url)
    data_dir = tmp_path / "instance"
    case_id, token = _setup(data_dir, database_url)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    server = subprocess.Popen(
        [sys.executable, "-m", "safereport", "--data-dir", str(data_dir), "serve",
         "--workers", str(WORKERS), "--port", str(port)], env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, "the server stopped"
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        answers = asyncio.run(_read_pages(f"{base}/staff/cases/{case_id}", token))
        workers = _children(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert len(workers) >= WORKERS
    assert all(status == 200 and "Synthetic Person" in text for status, text in answers)
    instance = open_instance(data_dir)
    try:
        with instance.engine.connect() as conn:
            size = tree.tree_size(conn)
        report = instance.ledger.verify()  # no gaps or duplicates; checkpoints consistent
        assert report.size == size
        assert size >= REQUESTS  # every page view recorded its decisions
        assert report.checkpoints >= 1
    finally:
        instance.close()
