"""Blocking work in an ``async def`` route does not stall the event loop (web/offload.py)."""

from __future__ import annotations

import asyncio
import importlib
import threading

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.routing import APIRoute

from safereport.web.app import ROUTER_MODULES, create_app
from safereport.web.offload import offload_async_routes


def _app(started: threading.Event, release: threading.Event) -> FastAPI:
    router = APIRouter()

    @router.post("/slow")
    async def slow(request: Request) -> dict[str, str]:
        form = await request.form(max_fields=5)
        started.set()
        release.wait(5)  # blocking, as Argon2 or a ledger batch is
        return {"name": str(form.get("name")), "released": str(release.is_set())}

    @router.post("/refuse")
    async def refuse(request: Request) -> None:
        await request.form(max_fields=1)
        raise HTTPException(status_code=403, detail="no")

    offload_async_routes(router)
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> str:
        return "ok"

    app.include_router(router)
    return app


def test_the_loop_answers_while_an_async_route_blocks() -> None:
    started, release = threading.Event(), threading.Event()
    app = _app(started, release)

    async def scenario() -> tuple[str, bool, dict[str, str]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            slow = asyncio.create_task(client.post("/slow", data={"name": "x"}))
            while not started.is_set():
                await asyncio.sleep(0.001)
            health = await client.get("/healthz")
            answered_first = not slow.done()
            release.set()
            return health.json(), answered_first, (await slow).json()

    health, answered_first, slow = asyncio.run(scenario())
    assert health == "ok"
    assert answered_first  # /healthz came back while /slow was still blocked
    assert slow == {"name": "x", "released": "True"}


def test_form_limits_and_http_errors_still_apply() -> None:
    app = _app(threading.Event(), threading.Event())

    async def scenario() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            refused = await client.post("/refuse", data={"a": "1"})
            too_many = await client.post("/refuse", data={"a": "1", "b": "2"})
            return refused.status_code, too_many.status_code

    refused, too_many = asyncio.run(scenario())
    assert refused == 403
    assert too_many == 400  # the route's own max_fields, parsed in the worker thread


def _module_routes() -> list[APIRoute]:
    create_app()  # wraps the routers of ROUTER_MODULES
    routes = []
    for name in ROUTER_MODULES:
        router = importlib.import_module(f"safereport.web.{name}").router
        routes.extend(r for r in router.routes if isinstance(r, APIRoute))
    return routes


@pytest.mark.parametrize(
    "route", _module_routes(), ids=lambda r: f"{sorted(r.methods)[0]} {r.path}"
)
def test_every_async_route_of_the_app_runs_off_the_loop(route: APIRoute) -> None:
    if asyncio.iscoroutinefunction(route.endpoint):
        assert getattr(route.endpoint, "__safereport_offloaded__", False)
