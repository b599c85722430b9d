"""HTTP throughput and p99 of a guarded case read against an unguarded read of the same row.

Both routes live in the same app, served by uvicorn in its own process on 127.0.0.1, and both
use the same staff session check, the same case row, the same vault decryption and the same
page template. The difference is the firewall: the guarded route is the real staff case page
(``GET /staff/cases/{id}``: two guard decisions, two ledger appends committed before the
vault opens anything); the unguarded route exists only in this benchmark and opens the fields
with ``UnsafeGrantForTests`` (no guard, no ledger).

The load generator (httpx, asyncio, N concurrent connections) runs in this process; the two
routes are measured in alternating rounds so that drift on a shared machine hits both alike.
Target: the guarded read keeps at least half the unguarded throughput.

    python benchmarks/read_bench.py [--seconds 8] [--rounds 2] [--concurrency 8]
"""


import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "benchmark password 1"


# ---- the server side (a subprocess) --------------------------------------------------------


def _bench_app(data_dir: Path) -> Any:
    from fastapi import Depends, Request
    from fastapi.responses import HTMLResponse

    from safereport.domain.fields import FIELD_CATEGORY, CaseField
    from safereport.policy.decision import UnsafeGrantForTests
    from safereport.services import casework
    from safereport.services.instance import open_instance
    from safereport.web.app import create_app
    from safereport.web.auth import StaffRequest, instance_of, render_staff, require_staff

    instance = open_instance(data_dir)
    app = create_app(instance)

    @app.get("/bench/unguarded/{case_id}", response_class=HTMLResponse)
    def unguarded(request: Request, case_id: str,
                  staff: StaffRequest = Depends(require_staff)) -> HTMLResponse:  # noqa: B008
        inst = instance_of(request)
        grant = UnsafeGrantForTests(frozenset(FIELD_CATEGORY.values()), case_id=case_id)
        with inst.engine.connect() as conn:
            summary = casework._case_row(conn, staff.user, case_id)
            opened = inst.vault.open_fields(conn, grant, case_id, list(CaseField))
        page = casework.CasePage(summary=summary, purpose=casework.default_purpose(staff.user),
                                 values=dict(opened.values), withheld=dict(opened.withheld))
        return render_staff(request, "staff/case.html", page=page, fields=list(CaseField),
                            category_of=FIELD_CATEGORY, purposes=[], statuses=[],
                            disclosures=[], checklist=casework.load_checklist(inst))

    return app


def serve(data_dir: Path, port: int) -> None:
    import uvicorn

    uvicorn.run(_bench_app(data_dir), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)


# ---- setup and load ------------------------------------------------------------------------


def _setup(data_dir: Path) -> tuple[str, str]:
    """An instance with one support service, one caseworker, one case; returns (case, token)."""
    from safereport.domain.fields import CaseField
    from safereport.domain.vocabulary import ActorRole, CrimeType, OrgKind, SubjectRole
    from safereport.services import auth, casework
    from safereport.services.instance import open_instance
    from safereport.services.setup import init_instance
    from safereport.services.users import add_org

    init_instance(data_dir)
    instance = open_instance(data_dir)
    with instance.engine.begin() as conn:
        org = add_org(conn, "Bench Support", OrgKind.SUPPORT_SERVICE)
        user_id = auth.create_user(conn, org_id=org, username="bench", display_name="Bench",
                                   role=ActorRole.CASEWORKER, password=PASSWORD)
        user = auth.get_user(conn, user_id)
        assert user is not None
        token = auth.start_session(conn, user, auth.SessionState.ACTIVE)
    filed = casework.file_third_party_report(
        instance, user, crime_type=CrimeType.DOMESTIC_ABUSE, subject_role=SubjectRole.VICTIM,
        values={CaseField.NAME: "Synthetic Person", CaseField.PHONE: "07700 900123",
                CaseField.ADDRESS: "1 Example Street", CaseField.NARRATIVE: "Synthetic " * 80,
                CaseField.NATIONALITY: "Examplestan", CaseField.IMMIGRATION_STATUS: "unknown"})
    instance.close()
    return filed.case_id, token


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _load(url: str, token: str, seconds: float, concurrency: int) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(cookies={"sr_staff": token}, limits=limits,
                                 timeout=30) as client:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.get(url)
                if response.status_code != 200 or "Synthetic Person" not in response.text:
                    raise SystemExit(f"unexpected answer {response.status_code} from {url}")
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="safereport-bench-") as tmp:
        data_dir = Path(tmp) / "instance"
        case_id, token = _setup(data_dir)
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(data_dir), str(port)],
                                  env=env)
        try:
            _wait(port)
            _run(port, case_id, token, args)
        finally:
            server.terminate()
            server.wait(timeout=15)


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the benchmark server did not start")


def _run(port: int, case_id: str, token: str, args: argparse.Namespace) -> None:
    base = f"http://127.0.0.1:{port}"
    routes = {"unguarded": f"{base}/bench/unguarded/{case_id}",
              "guarded": f"{base}/staff/cases/{case_id}"}
    for url in routes.values():  # warm up both
        asyncio.run(_load(url, token, 1.0, 2))
    results: dict[str, list[tuple[int, float]]] = {name: [] for name in routes}
    latencies: dict[str, list[float]] = {name: [] for name in routes}
    for _ in range(args.rounds):
        for name, url in routes.items():
            got = asyncio.run(_load(url, token, args.seconds, args.concurrency))
            results[name].append((len(got), args.seconds))
            latencies[name].extend(got)
    print(f"read_bench: {args.rounds} rounds x {args.seconds:.0f} s per route, "
          f"{args.concurrency} concurrent connections, uvicorn (1 process) on 127.0.0.1")
    rates = {}
    for name in routes:
        count = sum(n for n, _ in results[name])
        seconds = sum(s for _, s in results[name])
        rates[name] = count / seconds
        lat = latencies[name]
        print(f"  {name:9s} {rates[name]:8.1f} req/s   p50 {statistics.median(lat) * 1000:6.1f} ms"
              f"   p99 {_p(lat, 0.99) * 1000:6.1f} ms   ({count} requests)")
    ratio = rates["guarded"] / rates["unguarded"]
    verdict = "meets" if ratio >= 0.5 else "MISSES"
    print(f"  guarded/unguarded throughput ratio: {ratio:.2f} ({verdict} the 0.5 target)")


if __name__ == "__main__":
    main()
