"""Refusals on staff pages go through the app's exception handlers (issue 12).

Routes call their service and return their page: no nested ``work()`` closure, no check of a
message's words ("no such ...") to tell a missing thing from bad input; a missing thing is a
:class:`~safereport.errors.NotFound`. The pages a person sees are the ones shown before: a
missing case is the error page with 404, refused input the same page with 400, a denial the
denial page with its rule ids and reasons, each with the same "Go back" link. The behaviour
tests here pass on the code before the change too (the pages did not change); the structure
tests do not.
"""

from __future__ import annotations

import ast
import html
import importlib
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from tests.support.evidence_files import jpeg_with_gps
from tests.support.staff_client import TestClient, csrf_of, signed_in
from tests.support.staff_world import StaffWorld

import safereport.web
from safereport.errors import AccessDenied, InvalidInput
from safereport.services.casework import CaseNotHeld

WEB = Path(safereport.web.__file__).parent
MISSING = "a" * 32
#: Every module of web/ with staff routes shows refusals through the handlers, but the
#: sign-in door (no one is signed in yet: it answers with its own forms); and a route that
#: calls no service (the start page) declares nothing.
SIGN_IN_DOOR = "auth"
CALLS_NO_SERVICE = {"/staff/"}
#: The catches of a denial that draw no refusal page (``module: function``): the sign-in door
#: ends a session that can enrol nothing; a disclosure shows a justification it may not open
#: as withheld; her pages tell her calmly that her case or her messages are closed to her.
CATCHES_A_DENIAL = {"auth.py:_enrol_page", "staff.py:disclosure_view",
                    "victim.py:return_page", "victim.py:_return_page"}


# ---- structure --------------------------------------------------------------------------------


def _web_modules() -> list[tuple[str, ast.Module]]:
    return [(p.name, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(WEB.glob("*.py"))]


def test_no_web_module_wraps_a_route_in_a_nested_work_function() -> None:
    found = []
    for name, tree in _web_modules():
        for outer in ast.walk(tree):
            if not isinstance(outer, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            found += [f"{name}:{inner.lineno}" for inner in ast.walk(outer)
                      if inner is not outer and isinstance(
                          inner, ast.FunctionDef | ast.AsyncFunctionDef)
                      and inner.name in ("work", "play")]
    assert not found, f"a route's work in a nested function (use web/errors.py): {found}"


def _catches_of_a_denial(tree: ast.Module) -> list[tuple[str, int]]:
    """``(function, line)`` of every ``except`` naming AccessDenied (alone or in a tuple)."""
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for handler in ast.walk(function):
            if isinstance(handler, ast.ExceptHandler) and handler.type is not None and any(
                    isinstance(n, ast.Name) and n.id == "AccessDenied"
                    for n in ast.walk(handler.type)):
                found.append((function.name, handler.lineno))
    return found


def test_no_web_module_catches_a_denial_to_draw_its_page() -> None:
    """A denial travels to the handlers (web/errors.py), which draw the denial page: no module
    in web/ catches AccessDenied to draw a page itself, or draws the denial page itself."""
    caught, drawn = [], []
    for name, tree in _web_modules():
        caught += [f"{name}:{function}:{line}" for function, line in _catches_of_a_denial(tree)
                   if f"{name}:{function}" not in CATCHES_A_DENIAL]
        if name != "errors.py":
            drawn += [f"{name}:{node.lineno}" for node in ast.walk(tree)
                      if isinstance(node, ast.Constant) and node.value == "staff/denied.html"]
    assert not caught, f"a denial caught in a route (use @back_to or shown_by): {caught}"
    assert not drawn, f"the denial page drawn outside web/errors.py: {drawn}"


def test_the_catch_scanner_sees_a_caught_denial() -> None:
    tree = ast.parse("def route():\n"
                     "    try:\n        pass\n"
                     "    except (InvalidInput, AccessDenied) as exc:\n        pass\n"
                     "    try:\n        pass\n"
                     "    except InvalidInput:\n        pass\n")
    assert _catches_of_a_denial(tree) == [("route", 4)]


def _names_a_missing_thing_by_its_words(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value.lower().startswith("no such"))


def test_no_web_module_tells_not_found_by_the_message() -> None:
    found = []
    for name, tree in _web_modules():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("startswith", "endswith", "find", "index")
                    and any(_names_a_missing_thing_by_its_words(a) for a in node.args)):
                found.append(f"{name}:{node.lineno}")
            if isinstance(node, ast.Compare) and any(
                    _names_a_missing_thing_by_its_words(part)
                    for part in (node.left, *node.comparators)):
                found.append(f"{name}:{node.lineno}")
    assert not found, f"not found told from the message's words (raise NotFound): {found}"


def test_the_services_missing_things_are_not_found() -> None:
    from safereport.errors import NotFound

    assert issubclass(NotFound, InvalidInput)  # every caller that catches InvalidInput still does
    assert issubclass(CaseNotHeld, NotFound)


def test_every_staff_route_declares_how_it_shows_a_refusal() -> None:
    from fastapi.routing import APIRoute

    from safereport.web.errors import error_pages_of

    silent = []
    for path in sorted(WEB.glob("*.py")):
        module = importlib.import_module(f"safereport.web.{path.stem}")
        if path.stem == SIGN_IN_DOOR or not isinstance(getattr(module, "router", None),
                                                       APIRouter):
            continue
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            if (route.path.startswith("/staff") and route.path not in CALLS_NO_SERVICE
                    and error_pages_of(route.endpoint) is None):
                silent.append(f"{path.stem}: {sorted(route.methods)} {route.path}")
    assert not silent, f"a refusal on these would be a server error: {silent}"


# ---- the handlers themselves: threadpool, offloaded async routes, undeclared routes -------------


def test_the_handlers_answer_sync_and_offloaded_routes_and_only_declared_ones() -> None:
    from safereport.errors import NotFound
    from safereport.web.errors import ErrorPages, install_error_pages, shown_by
    from safereport.web.offload import offload_async_routes

    def denied(request: Request, exc: AccessDenied) -> Response:
        return PlainTextResponse(f"denied: {exc} {exc.rules}", status_code=403)

    def invalid(request: Request, exc: InvalidInput) -> Response:
        status = 404 if isinstance(exc, NotFound) else 400
        return PlainTextResponse(f"{exc} at {request.path_params}", status_code=status)

    pages = shown_by(ErrorPages(denied=denied, invalid=invalid))
    router = APIRouter()

    @router.get("/sync/{thing}")
    @pages
    def in_the_threadpool(thing: str) -> str:
        raise NotFound(f"no such {thing}")

    @router.post("/async")
    @pages
    async def offloaded(request: Request) -> str:
        await request.body()
        raise InvalidInput("choose one")

    @router.get("/denied")
    @pages
    def refused() -> str:
        raise AccessDenied("not yours", rules=("R-1",))

    @router.get("/undeclared")
    def undeclared() -> str:
        raise InvalidInput("her page shows its own")

    offload_async_routes(router)
    app = FastAPI()
    app.include_router(router)
    install_error_pages(app)
    client = TestClient(app, raise_server_exceptions=False)
    answer = client.get("/sync/case")
    assert (answer.status_code, answer.text) == (404, "no such case at {'thing': 'case'}")
    answer = client.post("/async", content=b"x")
    assert (answer.status_code, answer.text) == (400, "choose one at {}")
    answer = client.get("/denied")
    assert (answer.status_code, answer.text) == (403, "denied: not yours ('R-1',)")
    answer = client.get("/undeclared")
    assert answer.status_code == 500 and "her page" not in answer.text  # as with no handler


# ---- the pages: the same as before ------------------------------------------------------------


def _error_page(response: object, status: int, message: str, back: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    text = html.unescape(response.text)  # type: ignore[attr-defined]
    assert "<h1>That did not work</h1>" in text
    assert f'<p class="error">{message}</p>' in text
    assert f'<a href="{back}">Go back</a>' in text


def test_a_missing_case_is_404_with_the_error_page(world: StaffWorld) -> None:
    client = signed_in(world, "cw")
    _error_page(client.get(f"/staff/cases/{MISSING}"), 404, "no such case", "/staff/cases")
    token = csrf_of(client.get("/staff/cases").text)
    _error_page(client.post(f"/staff/cases/{MISSING}/notes",
                            data={"csrf_token": token, "text": "hello"}),
                404, "no such case", f"/staff/cases/{MISSING}")
    _error_page(client.get(f"/staff/cases/{MISSING}/evidence"), 404, "no such case",
                f"/staff/cases/{MISSING}")
    _error_page(client.get(f"/staff/quarantine/{MISSING}"), 404, "no such case",
                "/staff/quarantine")
    # Another organisation's case reads exactly the same.
    case_id = world.file("cw").case_id
    other = signed_in(world, "other_cw")
    _error_page(other.get(f"/staff/cases/{case_id}"), 404, "no such case", "/staff/cases")


def test_refused_input_is_400_with_the_error_page(world: StaffWorld) -> None:
    case_id = world.file("cw").case_id
    client = signed_in(world, "cw")
    token = csrf_of(client.get(f"/staff/cases/{case_id}").text)
    _error_page(client.post(f"/staff/cases/{case_id}/consents",
                            data={"csrf_token": token, "consent": "nobody/nothing"}),
                400, "choose what she agreed to", f"/staff/cases/{case_id}")
    sup = signed_in(world, "sup1")
    _error_page(sup.get("/staff/returns.csv?year=soon"), 400, "choose a year", "/staff/returns")


def test_a_missing_ask_is_404_not_the_asks_page(world: StaffWorld) -> None:
    client = signed_in(world, "cw")
    token = csrf_of(client.get("/staff/asks").text)
    missing = client.post(f"/staff/asks/{MISSING}/decline",
                          data={"csrf_token": token, "reason": "we hold nothing"})
    _error_page(missing, 404, "no such ask", "/staff/asks")
    # Refused input on a decline stays on the asks page, with the reason.
    empty = client.post(f"/staff/asks/{MISSING}/decline", data={"csrf_token": token})
    assert empty.status_code == 400
    assert "That did not work" not in empty.text and 'action="/staff/asks"' in empty.text


def test_a_denial_is_the_denial_page_with_its_rules_and_reasons(world: StaffWorld) -> None:
    analyst = signed_in(world, "analyst")
    for path in ("/staff/cases", f"/staff/cases/{MISSING}/risk", "/staff/asks"):
        answer = analyst.get(path)
        assert answer.status_code == 403, path
        text = html.unescape(answer.text)
        assert "<h1>Not allowed</h1>" in text
        assert "<p>the casework pages are not part of a analyst's work</p>" in text
        assert "<li>a analyst is not offered the casework pages</li>" in text
        assert "<code>staff-areas</code>" in text
        assert "This refusal has been recorded in the log." in text


def test_the_audit_and_accounts_pages_deny_with_the_denial_page(world: StaffWorld) -> None:
    caseworker = signed_in(world, "cw")
    token = csrf_of(caseworker.get("/staff/").text)
    for method, path, pages in (
        ("GET", "/staff/audit", "audit"), ("POST", "/staff/audit/verify", "audit"),
        ("POST", "/staff/audit/cosignatures", "audit"), ("GET", "/staff/admin", "accounts"),
        ("GET", "/staff/admin/account?username=cw", "accounts"),
        ("POST", "/staff/admin/accounts", "accounts"),
        ("POST", "/staff/admin/disable", "accounts"),
    ):
        answer = caseworker.request(method, path, data={"csrf_token": token, "username": "x"}
                                    if method == "POST" else None)
        assert answer.status_code == 403, path
        text = html.unescape(answer.text)
        assert "<h1>Not allowed</h1>" in text, path
        assert f"<p>the {pages} pages are not part of a caseworker's work</p>" in text, path
        assert f"<li>a caseworker is not offered the {pages} pages</li>" in text, path
        assert "<p>Rules: <code>staff-areas</code></p>" in text, path
        assert "This refusal has been recorded in the log." in text, path


def test_a_photo_is_no_such_recording(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = world.file("cw").case_id
    client = signed_in(world, "cw")
    token = csrf_of(client.get(f"/staff/cases/{case_id}/evidence").text)
    client.post(f"/staff/cases/{case_id}/evidence", data={"csrf_token": token},
                files={"file": ("p.jpg", jpeg_with_gps(), "image/jpeg")})
    page = client.get(f"/staff/cases/{case_id}/evidence").text
    evidence_id = page.split(f"/staff/cases/{case_id}/evidence/")[1][:32]
    _error_page(client.get(f"/staff/cases/{case_id}/evidence/{evidence_id}/play"), 404,
                "no such recording", f"/staff/cases/{case_id}")


def test_the_tracker_shows_its_own_pages(world: StaffWorld) -> None:
    caseworker = signed_in(world, "cw")
    denied = caseworker.get("/staff/foi")
    assert denied.status_code == 403
    assert "<h1>Not allowed</h1>" in denied.text and "Back to the start" in denied.text
    assert "Rules:" not in denied.text  # the tracker's own denial page
    analyst = signed_in(world, "analyst")
    token = csrf_of(analyst.get("/staff/foi").text)
    analyst.post("/staff/foi/rounds", data={"csrf_token": token, "name": "r1", "question": "q"})
    refused = analyst.post("/staff/foi/answer", data={
        "csrf_token": token, "round": "r1", "force": "kent-police", "classification": "maybe"})
    assert refused.status_code == 400
    assert "choose how the answer reads" in refused.text
    assert "<h2>Round r1</h2>" in refused.text  # the round the form was about


def test_the_api_keeps_its_own_json_errors(sqlite_world: StaffWorld) -> None:
    from tests.support.api import bearer, make_token

    from safereport.web.app import create_app

    secret = make_token(sqlite_world, "errors")
    client = TestClient(create_app(sqlite_world.instance))
    answer = client.post("/api/v1/reports", content=b"not json", headers=bearer(secret))
    assert answer.status_code == 422  # the API's answer to InvalidInput, not a staff page
    assert answer.headers["content-type"].startswith("application/json")
    assert "the body is not JSON" in answer.text
