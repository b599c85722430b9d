"""Report submissions per second and p99 latency through the whole HTTP stack.

A real instance (guard, ledger, vault) is served by uvicorn in a child process on 127.0.0.1;
a local async load generator (httpx) posts the report form with a valid CSRF token. The peer,
run side by side against the same server, is ``GET /healthz`` (the HTTP stack doing nothing),
so the ratio shows what intake costs on top of the framework. Afterwards the cases are
counted: every accepted submission must be in the database, none lost.

    .venv/bin/python benchmarks/intake_bench.py [--reports 400] [--concurrency 8]
        [--codename-reports 20] [--postgres URL | --no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from safereport.config import load_settings
from safereport.domain.vocabulary import OrgKind
from safereport.services.setup import init_instance
from safereport.services.users import add_org
from safereport.store.core import cases
from safereport.store.db import make_engine
from safereport.store.tables import metadata

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_SERVER = """
import sys, dataclasses, uvicorn
from safereport.config import Secret, load_settings
from safereport.services.instance import Instance
from safereport.store.db import make_engine
from safereport.store.tables import metadata
from safereport.web.app import create_app
path, url, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
settings = load_settings(path)
if url:
    settings = dataclasses.replace(settings, database_url=Secret(url))
# A flood by design: no per-source limit, never "under attack" (issue 19's layers still run).
settings = dataclasses.replace(settings, report_limit_per_hour=10**9,
                               form_attack_per_hour=10**9)
instance = Instance(settings=settings, engine=make_engine(settings.effective_database_url()))
uvicorn.run(create_app(instance), host="127.0.0.1", port=port, log_level="warning",
            access_log=False)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _load(base: str, method: str, path: str, total: int, concurrency: int,
                form: dict[str, str] | None) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    accepted = 0
    queue = list(range(total))

    async def worker() -> None:
        nonlocal accepted
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            while queue:
                queue.pop()
                token = ""
                if form is not None:
                    # Form tokens are single-use (a replayed report does nothing): each
                    # submission gets its own, outside the timed part, as a browser would.
                    found = _TOKEN.search((await client.get("/report")).text)
                    token = found.group(1) if found else ""
                started = time.perf_counter()
                if form is None:
                    response = await client.request(method, path)
                else:
                    response = await client.post(path, data={**form, "csrf_token": token})
                latencies.append(time.perf_counter() - started)
                if form is None:
                    accepted += response.status_code == 200
                else:  # a saved report answers 303 to its card page
                    accepted += (response.status_code == 303
                                 and response.headers.get("location") == "/return/new")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, accepted


def _serve(path: Path, url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    child = subprocess.Popen([sys.executable, "-c", _SERVER, str(path), url, str(port)])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return child, base
        except httpx.HTTPError:
            time.sleep(0.1)
    child.kill()
    raise RuntimeError("the server did not start")


def _count_cases(url: str) -> int:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(cases)).scalar_one())
    finally:
        engine.dispose()


def _line(name: str, seconds: float, latencies: list[float], ok: int, total: int) -> str:
    rate = total / seconds
    return (f"  {name:<28} {rate:8.1f}/s  p50 {statistics.median(latencies) * 1000:7.1f} ms"
            f"  p99 {_percentile(latencies, 0.99) * 1000:7.1f} ms  accepted {ok}/{total}")


def run(backend: str, database_url: str | None, args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        path = init_instance(Path(tmp) / "bench", database_url=database_url)
        settings = load_settings(path)
        url = database_url or settings.effective_database_url()
        engine = make_engine(url, pool=False)
        # init_instance migrates only the SQLite file today; make sure an external database
        # has the schema too (a no-op where it already has it).
        metadata.create_all(engine)
        with engine.begin() as conn:
            add_org(conn, "Bench Support", OrgKind.SUPPORT_SERVICE)
        engine.dispose()
        child, base = _serve(path, database_url or "")
        try:
            form = {"mode": "anonymous", "crime_type": "domestic_abuse",
                    "narrative": "Synthetic benchmark report. " * 20, "occurred": "last week"}
            peer = asyncio.run(_load(base, "GET", "/healthz", args.reports, args.concurrency,
                                     None))
            anon = asyncio.run(_load(base, "POST", "/report", args.reports, args.concurrency,
                                     form))
            code = asyncio.run(_load(base, "POST", "/report", args.codename_reports,
                                     min(args.concurrency, 4), {**form, "mode": "codename"}))
        finally:
            child.terminate()
            child.wait(timeout=30)
        stored = _count_cases(url)
    expected = anon[2] + code[2]
    print(f"{backend}:")
    print(_line("peer GET /healthz", *peer, args.reports))
    print(_line("POST /report (anonymous)", *anon, args.reports))
    print(_line("POST /report (codename)", *code, args.codename_reports))
    ratio = (args.reports / anon[0]) / (args.reports / peer[0])
    print(f"  anonymous submissions / healthz requests: {ratio:.3f}")
    lost = expected - stored
    print(f"  cases in the database: {stored} (accepted {expected}, lost {lost})")
    return lost == 0 and expected == args.reports + args.codename_reports


def _postgres_database(admin_url: str) -> tuple[str, str]:
    name = f"safereport_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), name


def _drop(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=400)
    parser.add_argument("--codename-reports", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(f"{args.reports} anonymous + {args.codename_reports} codename submissions, "
          f"{args.concurrency} concurrent clients, one uvicorn worker on 127.0.0.1")
    ok = run("sqlite", None, args)
    if not args.no_postgres:
        url, name = _postgres_database(args.postgres)
        try:
            ok = run("postgresql", url, args) and ok
        finally:
            _drop(args.postgres, name)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
