"""The trips a request makes from the event loop to a worker thread, for tests that count them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.to_thread
import pytest


def thread_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the name of each function sent to a worker thread, as it is sent
    (Starlette and FastAPI send plain ``def`` routes, dependencies and handlers so)."""
    sent: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(func, "__name__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return sent
