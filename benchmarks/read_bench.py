"""HTTP throughput and p99 of a guarded case read, an unguarded read of the same row, and the
same page rendered from constants: three routes of one app, one server, one run.

All three routes use the same staff session check and render the same page: the unguarded and
template routes run the real case page's route with substitutions. They differ in what is
behind the page:

* ``guarded``: the real staff case page (``GET /staff/cases/{id}``): two guard decisions, each
  appended to the ledger through the sequencer (group commit; committed, fsynced and signed
  over before the vault opens anything);
* ``unguarded`` (exists only in this benchmark): the same page with the road's decisions taken
  out: each part of the case the page asks for is opened by the vault with an
  ``UnsafeGrantForTests`` instead of a decided, recorded Grant (no guard, no ledger), and
  everything else (notes, safety plan, outcomes, MARAC actions, the facts around the case) is
  read and opened exactly as on the guarded page. (Until 2026-12-01 this route replaced the
  whole of ``casework.case_page`` and so skipped the notes and the rest: it did less work than
  the guarded page for reasons other than the guard, which made the ratio look worse.)
* ``template`` (exists only in this benchmark): the page rendered from values read once at
  start-up: no case row, no vault.

The load generator is Debian's ``wrk`` when installed (``apt-get install wrk``), else a small
httpx client in this process; the server is uvicorn in its own process on 127.0.0.1 (``serve
--workers`` is measured with ``--workers N``). Routes are measured in alternating rounds so
that drift on a shared machine hits all three alike. Targets (issue 13): guarded/unguarded
throughput at least 0.8; unguarded/template at least 0.6; the guarded p99 at 8 connections is
reported.

Throughput on a shared machine drifts (the same route's rate moved by a third between runs
minutes apart on the machine these numbers come from), so each route's **CPU per page** is
reported beside it: the server's own user and system time (every process of it, read from
``/proc``) over the pages served. The server is bound by its CPU, so within a run the CPU per
page explains the rates; the guarded page's CPU above the unguarded one's is what the guard
and the ledger cost a page.

    python benchmarks/read_bench.py [--seconds 8] [--rounds 2] [--concurrency 8] [--workers 1]
"""


import argparse
import asyncio
import os
import re
import shutil
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
    import threading

    from fastapi import APIRouter, Request
    from fastapi.responses import HTMLResponse, Response

    from safereport.policy.decision import UnsafeGrantForTests
    from safereport.services import access, casework
    from safereport.services.instance import open_instance
    from safereport.web import staff as staff_pages
    from safereport.web.app import create_app, settled
    from safereport.web.auth import Staff, StaffRequest, check_staff_in_route, render_staff

    instance = open_instance(data_dir)
    instance.ledger.sequencer.start()
    app = create_app(instance)

    # The unguarded and template routes run the real case page's route (so they render the
    # very same page, whatever it shows today) with two substitutions in this thread only:
    # the parts of the case are opened without guard or ledger, and the page's context can be
    # captured.
    mode = threading.local()
    guarded_parts = casework.access_case_parts

    def access_case_parts(inst: Any, actor: Any, case_id: str, parts: Any, *, purpose: Any,
                          detail: Any = None) -> Any:
        if not getattr(mode, "unguarded", False):
            return guarded_parts(inst, actor, case_id, parts, purpose=purpose, detail=detail)
        grants = [UnsafeGrantForTests(part.categories, case_id=case_id) for part in parts]
        with inst.engine.connect() as conn:  # as the road's _open_granted: one read of the case
            opened = inst.vault.open_parts(
                conn, case_id, [(g, list(p.fields)) for g, p in zip(grants, parts, strict=True)])
        return [access.CaseAccess(g.decision, g, dict(f.values), dict(f.withheld))
                for g, f in zip(grants, opened, strict=True)]

    captured: dict[str, Any] = {}
    page_renderer = staff_pages.render_staff

    def capturing_render(request: Request, name: str, **context: Any) -> Any:
        if getattr(mode, "capture", False):
            captured.update(context)
        return page_renderer(request, name, **context)

    casework.access_case_parts = access_case_parts  # type: ignore[assignment]
    staff_pages.render_staff = capturing_render  # type: ignore[assignment]

    def unguarded_view(request: Request, staff: StaffRequest, case_id: str) -> Response:
        mode.unguarded = True
        try:
            return staff_pages.case_view(request, staff, case_id, "")  # type: ignore[no-any-return]
        finally:
            mode.unguarded = False

    # Routed as the app's own staff pages are (the session checked in the page's thread).
    bench = APIRouter()

    @bench.get("/bench/unguarded/{case_id}", response_class=HTMLResponse)
    def unguarded(request: Request, staff: Staff, case_id: str) -> Response:
        return unguarded_view(request, staff, case_id)

    @bench.get("/bench/template/{case_id}", response_class=HTMLResponse)
    def template(request: Request, staff: Staff, case_id: str) -> Response:
        if not captured:  # read once, then the page is rendered from these values
            mode.capture = True
            try:
                unguarded_view(request, staff, case_id)
            finally:
                mode.capture = False
        return render_staff(request, "staff/case.html", **captured)

    check_staff_in_route(bench)
    app.include_router(bench)
    return settled(app)  # as `safereport serve` serves it


def bench_app_from_environment() -> Any:
    """The app of one worker when the benchmark serves with ``--workers`` above 1."""
    return _bench_app(Path(os.environ["SAFEREPORT_BENCH_DATA_DIR"]))


def serve(data_dir: Path, port: int, workers: int) -> None:
    import uvicorn

    if workers == 1:
        uvicorn.run(_bench_app(data_dir), host="127.0.0.1", port=port, log_level="warning",
                    access_log=False)
        return
    os.environ["SAFEREPORT_BENCH_DATA_DIR"] = str(data_dir)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    uvicorn.run("read_bench:bench_app_from_environment", factory=True, workers=workers,
                host="127.0.0.1", port=port, log_level="warning", access_log=False)


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


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if match is None:
        raise SystemExit(f"cannot read wrk's latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _wrk(url: str, token: str, seconds: float, concurrency: int) -> tuple[int, float, float]:
    """(requests, p50, p99) from one wrk run; any non-2xx answer stops the benchmark."""
    threads = max(1, min(2, concurrency))
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds:.0f}s", "--latency",
         "--timeout", "60s",
         "-H", f"Cookie: sr_staff={token}", url],
        capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors from {url}:\n{out}")
    requests = int(re.search(r"([0-9]+) requests in", out).group(1))  # type: ignore[union-attr]
    p50 = _seconds(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _seconds(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    return requests, p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--httpx", action="store_true", help="use the httpx client, not wrk")
    parser.add_argument("--serve", nargs=3, metavar=("DATA_DIR", "PORT", "WORKERS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]), int(args.serve[2]))
        return
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="safereport-bench-") as tmp:
        data_dir = Path(tmp) / "instance"
        case_id, token = _setup(data_dir)
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(data_dir), str(port),
                                   str(args.workers)], env=env)
        try:
            _wait(port)
            _run(port, case_id, token, args, server.pid)
        finally:
            server.terminate()
            server.wait(timeout=15)


def _server_pids(pid: int) -> list[int]:
    """``pid`` and every process below it (uvicorn's workers with ``--workers``), from /proc."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds the server (``pid`` and its children) has used so far, or
    None where there is no /proc (then no CPU per page is reported)."""
    total = 0
    try:
        for each in _server_pids(pid):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14, 15)
    except (OSError, IndexError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def _wait(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the benchmark server did not start")


def _result(name: str, value: float, op: str, target: float) -> str:
    meets = value >= target if op == ">=" else value <= target
    return f"RESULT {name} {value:.3f} target {op} {target} {'meets' if meets else 'MISSES'}"


def _run(port: int, case_id: str, token: str, args: argparse.Namespace, server: int) -> None:
    base = f"http://127.0.0.1:{port}"
    routes = {"guarded": f"{base}/staff/cases/{case_id}",
              "unguarded": f"{base}/bench/unguarded/{case_id}",
              "template": f"{base}/bench/template/{case_id}"}
    use_wrk = shutil.which("wrk") is not None and not args.httpx
    for url in routes.values():  # warm up, and check each page is the case's page
        page = httpx.get(url, cookies={"sr_staff": token}, timeout=30)
        if page.status_code != 200 or "Synthetic Person" not in page.text:
            raise SystemExit(f"unexpected answer {page.status_code} from {url}")
        asyncio.run(_load(url, token, 1.0, 2))
    counts: dict[str, int] = {name: 0 for name in routes}
    p50s: dict[str, list[float]] = {name: [] for name in routes}
    p99s: dict[str, list[float]] = {name: [] for name in routes}
    cpu: dict[str, float] = {name: 0.0 for name in routes}
    read_cpu = _cpu_seconds(server) is not None
    for _ in range(args.rounds):
        for name, url in routes.items():
            before = _cpu_seconds(server)
            if use_wrk:
                count, p50, p99 = _wrk(url, token, args.seconds, args.concurrency)
            else:
                got = asyncio.run(_load(url, token, args.seconds, args.concurrency))
                count, p50, p99 = len(got), statistics.median(got), _p(got, 0.99)
            after = _cpu_seconds(server)
            if before is not None and after is not None:
                cpu[name] += after - before
            counts[name] += count
            p50s[name].append(p50)
            p99s[name].append(p99)
    generator = "wrk" if use_wrk else "httpx"
    print(f"read_bench: {args.rounds} rounds x {args.seconds:.0f} s per route, "
          f"{args.concurrency} connections ({generator}), uvicorn with {args.workers} "
          f"process(es) on 127.0.0.1, SQLite")
    rates, per_page = {}, {}
    for name in routes:
        rates[name] = counts[name] / (args.rounds * args.seconds)
        per_page[name] = cpu[name] / max(counts[name], 1) * 1000
        shown = f"   CPU {per_page[name]:5.2f} ms a page" if read_cpu else ""
        print(f"  {name:9s} {rates[name]:8.1f} req/s   p50 {max(p50s[name]) * 1000:6.1f} ms"
              f"   p99 {max(p99s[name]) * 1000:6.1f} ms   ({counts[name]} requests){shown}")
    if read_cpu:
        guarded_cpu, unguarded_cpu = per_page["guarded"], per_page["unguarded"]
        print(f"  the guard and the ledger: {guarded_cpu - unguarded_cpu:+.2f} ms of the server's "
              f"CPU a page; unguarded/guarded CPU a page {unguarded_cpu / guarded_cpu:.3f}")
    print(_result("guarded_vs_unguarded", rates["guarded"] / rates["unguarded"], ">=", 0.8))
    print(_result("unguarded_vs_template", rates["unguarded"] / rates["template"], ">=", 0.6))
    p99 = max(p99s["guarded"]) * 1000
    print(f"RESULT guarded_p99_ms_at_{args.concurrency}_connections {p99:.1f} target <= 250 "
          f"{'meets' if p99 <= 250 else 'MISSES'}")


if __name__ == "__main__":
    main()
