"""A plain ``def`` staff page checks the session in its own thread: one trip to the threadpool.

FastAPI runs a ``def`` dependency and the ``def`` route it feeds in two trips to its
threadpool; the staff routes take ``staff: Staff`` and the app hands their session check to
the route's own call (web/auth.py, ``check_staff_in_route``). Issue 13.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
import threading
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from tests.support.staff_client import TestClient, signed_in
from tests.support.staff_world import StaffWorld
from tests.support.thread_trips import thread_trips

from safereport.services import case_page
from safereport.web import auth
from safereport.web.app import ROUTER_MODULES, create_app
from safereport.web.auth import Staff, check_staff_in_route


def test_a_staff_page_is_one_trip_to_the_threadpool(
    sqlite_world: StaffWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    filed = sqlite_world.file()
    client = signed_in(sqlite_world, "cw")
    sent = thread_trips(monkeypatch)
    for path in ("/staff/", "/staff/cases", f"/staff/cases/{filed.case_id}", "/staff/inbox"):
        sent.clear()
        response = client.get(path)
        assert response.status_code == 200, path
        assert len(sent) == 1, f"{path}: {sent}"


def test_the_session_is_checked_in_the_pages_thread_before_the_page(
    sqlite_world: StaffWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    filed = sqlite_world.file()
    client = signed_in(sqlite_world, "cw")
    seen: list[tuple[str, int]] = []
    session, view = auth._session, case_page.case_page_view

    def spied_session(request: Request) -> Any:
        seen.append(("session", threading.get_ident()))
        return session(request)

    def spied_view(*args: Any, **kwargs: Any) -> Any:
        seen.append(("page", threading.get_ident()))
        return view(*args, **kwargs)

    monkeypatch.setattr(auth, "_session", spied_session)
    monkeypatch.setattr(case_page, "case_page_view", spied_view)
    assert client.get(f"/staff/cases/{filed.case_id}").status_code == 200
    assert [what for what, _ in seen] == ["session", "page"]
    assert seen[0][1] == seen[1][1]


def test_every_checked_route_sends_a_stranger_to_sign_in(sqlite_world: StaffWorld) -> None:
    client = TestClient(create_app(sqlite_world.instance), follow_redirects=False)
    routes = [route for name in ROUTER_MODULES
              for route in importlib.import_module(f"safereport.web.{name}").router.routes]
    plain = [route for route in routes if isinstance(route, APIRoute)
             and not asyncio.iscoroutinefunction(route.endpoint)
             and "staff" in inspect.signature(inspect.unwrap(route.endpoint)).parameters]
    checked = [route for route in plain
               if getattr(route.endpoint, "__safereport_staff_checked__", False)]
    assert len(checked) == len(plain) >= 20  # every plain staff page of every router
    for route in checked:
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/staff/sign-in", path


def _app(router: APIRouter) -> TestClient:
    app = FastAPI()
    app.include_router(router)
    return TestClient(app, follow_redirects=False)


def test_a_stranger_never_runs_the_route(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    router = APIRouter()

    @router.get("/page/{name}")
    def page(request: Request, name: str, staff: Staff, size: int = 3) -> dict[str, Any]:
        ran.append(name)
        return {"name": name, "size": size, "user": staff.token}

    def no_session(request: Request) -> None:
        return None

    monkeypatch.setattr(auth, "_session", no_session)
    check_staff_in_route(router)
    check_staff_in_route(router)  # idempotent: the app does this on every create_app
    response = _app(router).get("/page/a")
    assert response.status_code == 303 and response.headers["location"] == "/staff/sign-in"
    assert ran == []


def test_the_route_gets_its_staff_and_its_other_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = APIRouter()

    @router.get("/page/{name}")
    def page(request: Request, name: str, staff: Staff, size: int = 3) -> dict[str, Any]:
        return {"name": name, "size": size, "user": staff.token}

    def a_session(request: Request) -> auth.StaffRequest:
        return auth.StaffRequest(user=None, token="t-1",  # type: ignore[arg-type]
                                 state=auth.SessionState.ACTIVE)

    monkeypatch.setattr(auth, "_session", a_session)
    check_staff_in_route(router)
    client = _app(router)
    assert client.get("/page/b?size=5").json() == {"name": "b", "size": 5, "user": "t-1"}
    assert client.get("/page/b?size=five").status_code == 422  # still validated


def test_async_routes_and_routes_without_staff_are_left_alone() -> None:
    router = APIRouter()

    @router.post("/form")
    async def form(request: Request, staff: Staff) -> None:
        return None

    @router.get("/open")
    def open_page(request: Request) -> None:
        return None

    endpoints = [route.endpoint for route in router.routes if isinstance(route, APIRoute)]
    check_staff_in_route(router)
    assert [route.endpoint for route in router.routes if isinstance(route, APIRoute)] == endpoints


def test_a_staff_route_without_its_request_is_refused_at_start() -> None:
    router = APIRouter()

    @router.get("/page")
    def page(staff: Staff) -> None:
        return None

    with pytest.raises(TypeError, match="one Request and one Staff"):
        check_staff_in_route(router)
