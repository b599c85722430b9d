"""Keep blocking work off the event loop, for every route at once.

FastAPI already runs a plain ``def`` route (and ``def`` dependency) in its threadpool. An
``async def`` route runs on the event loop itself, and this project's async routes are async
only to ``await request.form()``: what follows is blocking (Argon2 hashing and verification,
database transactions, ledger appends that wait for their batch to be durable). On the loop,
eight sign-in attempts stalled every other request, ``/healthz`` included, for over a second.

:func:`offload_async_routes` wraps each ``async def`` endpoint of a router: on the loop it only
reads the request body (so that nothing left to await needs the server's connection); then it
runs the whole endpoint coroutine in a worker thread (``anyio.to_thread``) on an event loop of
that thread's own. ``await request.form()`` there parses the body already read, with the
route's own limits. Routes need no change, and a new async route is covered by default.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute

__all__ = ["offload_async_routes", "run_off_loop"]

_MARK = "__safereport_offloaded__"
_runners = threading.local()

Endpoint = Callable[..., Coroutine[Any, Any, Any]]


def _run_here(endpoint: Endpoint, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``endpoint`` to completion on this worker thread's own event loop."""
    runner = getattr(_runners, "runner", None)
    if runner is None:
        runner = asyncio.Runner()
        _runners.runner = runner
    return runner.run(endpoint(*args, **kwargs), context=contextvars.copy_context())


def run_off_loop(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` (an ``async def`` route) made to run in a worker thread; see the module."""
    if getattr(endpoint, _MARK, False):
        return endpoint

    @functools.wraps(endpoint)
    async def offloaded(*args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            if isinstance(value, Request) and value.method not in ("GET", "HEAD"):
                await value.body()  # read on the loop; cached for the worker's form()
        return await anyio.to_thread.run_sync(_run_here, endpoint, args, kwargs)

    setattr(offloaded, _MARK, True)
    return offloaded


def offload_async_routes(router: APIRouter) -> None:
    """Wrap every ``async def`` endpoint of ``router`` with :func:`run_off_loop` (in place)."""
    for route in router.routes:
        if isinstance(route, APIRoute) and asyncio.iscoroutinefunction(route.endpoint):
            route.endpoint = run_off_loop(route.endpoint)
