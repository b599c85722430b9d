"""The app factory. Routers are registered from ``ROUTER_MODULES``; each defines ``router``."""

from __future__ import annotations

import gc
import importlib
import logging
import os
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from safereport.services.clock import Clock, SystemClock
from safereport.web.i18n import install_i18n
from safereport.web.offload import offload_async_routes
from safereport.web.security import install_security

__all__ = ["STATIC_DIR", "TEMPLATES", "create_app", "request_threads", "settled"]

_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"
TEMPLATES = Jinja2Templates(directory=str(_HERE / "templates"))
install_i18n(TEMPLATES.env)  # base.html speaks through gettext (English unless a page says)
# The templates ship inside the package and change only with a new release and a restart, so
# Jinja need not stat every template file (and each one it extends or includes) on every page
# to see whether it changed: a system call per file per page, and on a busy server a wait for
# Python's lock after each one (about a tenth of the samples of a plain page under load).
TEMPLATES.env.auto_reload = False
log = logging.getLogger("safereport.web")

#: Modules under ``safereport.web`` that each define ``router: fastapi.APIRouter``.
ROUTER_MODULES: tuple[str, ...] = (
    "public", "victim", "victim_requests", "victim_bots", "auth", "staff", "auditor", "tracker",
    "staff_quarantine",
    "tlog", "public_verify", "evidence", "victim_evidence", "victim_check", "admin",
)


async def _client_gone(request: Request, exc: Exception) -> Response:
    """A body cut off by the client (her signal lost, the tab closed) while a form was read:
    nothing of it was kept (spooled files are closed and gone), and it is no server error, so
    no traceback in the log for each one. The answer most likely goes nowhere."""
    log.info("a request body was cut off by the client; nothing was kept")
    return PlainTextResponse("The form did not arrive whole. Nothing was saved.",
                             status_code=400)


def request_threads(settings: Any = None) -> int:
    """How many threads run requests' blocking work in one serving process.

    ``request_threads`` from the settings, or (0, the default) the machine's CPUs and two
    more, at least 4. Not AnyIO's 40: the work of a page is Python, which runs one thread at a
    time in a process, and a thread back from each short database call waits for the lock
    that lets it run again behind every other thread that is running. With 40 threads and 8
    pages at once, each page waited in turn for all the others at each of its twenty or so
    calls: on 2 CPUs the case page served 80 pages a second (p99 169 ms); with 4 threads 86
    to 95 (p99 118 to 132 ms), and every page faster with it (``benchmarks/read_bench.py``;
    README, Benchmarks). The threads beyond the CPUs are for work that waits without holding
    that lock: the fsync of a ledger batch, Argon2 (64 MiB each: fewer at once also bounds
    the memory a burst of sign-ins takes). A request beyond them waits its turn on the event
    loop, which keeps answering ``/healthz`` and the quick exit meanwhile.
    """
    chosen: int = getattr(settings, "request_threads", 0)
    return chosen or max(4, (os.cpu_count() or 1) + 2)


def create_app(instance: Any = None, *, clock: Clock | None = None) -> FastAPI:
    """A FastAPI app serving ``instance`` (a ``services.instance.Instance``).

    ``clock`` is the time the app's checks are measured by (the public forms' wait); tests
    pass a :class:`~safereport.services.clock.FakeClock` and move it by hand."""
    app = FastAPI(
        title="safereport",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.instance = instance
    app.state.clock = clock or SystemClock()
    app.state.request_threads = threads = request_threads(getattr(instance, "settings", None))

    async def size_thread_pool() -> None:  # per event loop: set once the server's loop runs
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads

    app.router.on_startup.append(size_thread_pool)
    install_security(app)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    # The integration API (JSON, bearer tokens, its own OpenAPI document) under /api/v1.
    importlib.import_module("safereport.web.api").mount_api(app, instance)

    @app.get("/healthz", response_class=PlainTextResponse, include_in_schema=False)
    def healthz() -> str:
        return "ok"

    check_staff_in_route = importlib.import_module("safereport.web.auth").check_staff_in_route
    for name in ROUTER_MODULES:
        module = importlib.import_module(f"safereport.web.{name}")
        check_staff_in_route(module.router)  # a page's session check: in the page's own thread
        offload_async_routes(module.router)  # blocking work (Argon2, database) off the loop
        app.include_router(module.router)
    # A refusal on a staff page (denied, not found, refused input): the route's own page.
    importlib.import_module("safereport.web.errors").install_error_pages(app)
    # A mistyped address on her side: a calm, translated page with the quick exit, not JSON.
    importlib.import_module("safereport.web.victim").install_not_found(app)
    # Told by the security middleware of a NUL-refused case address, to record the denial.
    app.state.on_malformed = importlib.import_module(
        "safereport.web.auth").record_malformed_request
    # Her neutral notices go from a worker thread, never inside a request (issue 18).
    importlib.import_module("safereport.web.victim_notices").install(app)
    return app


def settled(app: FastAPI) -> FastAPI:
    """``app`` (from :func:`create_app`), ready to serve: what start-up loaded is moved out
    of the garbage collector's way.

    Start-up loads a great deal that lives as long as the process: the proven decision
    tables, templates, translations, the vocabulary. ``gc.freeze`` moves all of it to a
    generation the collector never walks again, so a collection walks only what requests
    made. Without it the frequent small collections that requests trigger also walk those
    long-lived objects: the guard's decisions ran about a third slower
    (``benchmarks/policy_bench.py`` does the same before timing). Forked workers also keep
    sharing those pages, because a collection no longer writes to them.
    """
    gc.collect()
    gc.freeze()
    return app
