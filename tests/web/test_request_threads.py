"""A serving process runs requests' blocking work on a few threads, not AnyIO's 40 (issue 13).

With 40 threads, eight pages at once each waited behind all the others at every database
call (Python runs one thread at a time): the case page served 80 a second with a p99 of
169 ms where four threads serve 86 to 95 with 118 to 132 ms (README, Benchmarks).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from tests.support.staff_world import StaffWorld
from tests.support.testclient import TestClient

from safereport.config import load_settings, with_overrides
from safereport.errors import ConfigError
from safereport.web.app import create_app, request_threads


def test_the_default_is_the_cpus_and_two_more_at_least_four() -> None:
    assert request_threads(None) == max(4, (os.cpu_count() or 1) + 2)
    assert request_threads(SimpleNamespace(request_threads=0)) == request_threads(None)
    assert request_threads(SimpleNamespace(request_threads=3)) == 3


def test_the_setting_is_read_and_checked(tmp_path: Path) -> None:
    env = {"SAFEREPORT_REQUEST_THREADS": "6"}
    assert load_settings(tmp_path, env=env).request_threads == 6
    assert load_settings(tmp_path, env={}).request_threads == 0  # automatic
    for wrong in ("-1", "257", "many"):
        with pytest.raises(ConfigError, match="request_threads"):
            load_settings(tmp_path, env={"SAFEREPORT_REQUEST_THREADS": wrong})


def test_a_served_app_runs_no_more_blocking_routes_at_once_than_its_threads(
    sqlite_world: StaffWorld,
) -> None:
    instance = sqlite_world.instance
    instance.settings = with_overrides(instance.settings, request_threads=2)
    app = create_app(instance)
    lock = threading.Lock()
    running, most = [0], [0]
    gate = threading.Barrier(2, timeout=5)

    @app.get("/busy")
    def busy() -> str:  # a sync route: run on the thread pool, as the pages are
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        gate.wait()  # two at once can get here together: the pool has two threads
        threading.Event().wait(0.05)
        with lock:
            running[0] -= 1
        return "done"

    # `with`: the app starts up, as under uvicorn
    with TestClient(app) as client, ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: client.get("/busy").json(), range(6)))
    assert answers == ["done"] * 6
    assert most[0] == 2, "more requests ran at once than the configured threads"
