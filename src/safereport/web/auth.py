"""Staff sign-in: password and TOTP, enrolment with a QR code drawn here, sessions, sign-out.

The session cookie holds only a random token (its SHA-256 keys the server-side row), and is
``HttpOnly``, ``SameSite=Strict``, path ``/staff``, and ``Secure`` when the ``secure_cookie``
setting says so (or the request itself came over https, as seen directly or through a
configured trusted proxy). A TLS deployment sets ``secure_cookie = true``; plain-http local
tests and the demo leave it off.

Each form carries the CSRF token of :mod:`safereport.web.security`, bound to the session;
sign-out takes one too (a cross-site page cannot sign anyone out).

A second factor is set up only by the session that signed in with the password for an account
that has none; it is never replaced from a session (two administrators clear it first:
services/users.py). A one-time password set by an administrator signs in only to
``/staff/password``, where the person chooses her own.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

import anyio.to_thread
import segno
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.params import Depends as DependsParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.datastructures import FormData

from safereport.errors import AccessDenied, InvalidInput
from safereport.services import auth as service
from safereport.services.access import record_failure
from safereport.services.auth import SessionState, SignInOutcome, StaffUser
from safereport.services.casework import actor_for
from safereport.services.instance import Instance
from safereport.web.app import TEMPLATES
from safereport.web.security import CsrfError, csrf_token, has_nul, source_key, verify_csrf

__all__ = [
    "COOKIE",
    "Staff",
    "StaffRequest",
    "check_form",
    "check_staff_in_route",
    "record_malformed_request",
    "render_staff",
    "require_staff",
    "router",
]

COOKIE = "sr_staff"
SIGN_IN = "/staff/sign-in"
PASSWORD_PAGE = "/staff/password"
router = APIRouter(prefix="/staff", include_in_schema=False)

_MAX_FORM_BYTES = 64_000


@dataclass(frozen=True)
class StaffRequest:
    user: StaffUser
    token: str
    state: SessionState


def instance_of(request: Request) -> Instance:
    instance = request.app.state.instance
    if instance is None:
        raise HTTPException(status_code=503, detail="no instance")
    return instance  # type: ignore[no-any-return]


def _bind_csrf(request: Request, token: str) -> None:
    # Tokens minted for one session are useless in another (security.py reads this).
    request.state.csrf_binding = hashlib.sha256(b"csrf/" + token.encode()).hexdigest()[:32]


def _session(request: Request) -> StaffRequest | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 100:
        return None
    engine = instance_of(request).engine
    with engine.connect() as conn:  # a read snapshot: a page view takes no write lock
        found = service.load_session(conn, token, write=False)
    if found is not None and found.touch_due:  # at most every few seconds per session
        with engine.begin() as conn:
            found = service.load_session(conn, token)
    if found is None:
        return None
    _bind_csrf(request, token)
    return StaffRequest(found.user, token, found.state)


def _to_sign_in() -> HTTPException:
    return HTTPException(status_code=303, headers={"Location": SIGN_IN})


def require_staff(request: Request) -> StaffRequest:
    """A FastAPI dependency: the signed-in, TOTP-verified staff member, or off to sign in."""
    found = _session(request)
    if found is None:
        raise _to_sign_in()
    if found.state is SessionState.PASSWORD:
        raise HTTPException(status_code=303, headers={"Location": PASSWORD_PAGE})
    if found.state is not SessionState.ACTIVE:
        raise HTTPException(status_code=303, headers={"Location": "/staff/totp"})
    request.state.staff = found
    return found


#: A staff route's parameter for the signed-in staff member (``staff: Staff``).
Staff = Annotated[StaffRequest, Depends(require_staff)]

_CHECKED = "__safereport_staff_checked__"


def check_staff_in_route(router: APIRouter) -> None:
    """Each plain ``def`` route of ``router`` that takes ``staff: Staff`` checks the session
    in the route's own thread (in place; the app does this for every router it includes).

    FastAPI runs a plain ``def`` dependency and the plain ``def`` route it feeds in two
    separate trips to its threadpool: each a hand-over from the event loop to a worker
    thread and back. On the case page that second trip cost about half a millisecond of the
    server's CPU a page, a tenth of a plain staff page (issue 13; docs/staff.md#benchmark).
    The route is given to FastAPI without its ``Staff`` parameter, wrapped so that
    :func:`require_staff` runs first in the same thread, before anything of the route's own:
    not signed in, the route does not run (the same redirect as the dependency gave).
    ``async def`` routes keep the dependency: it refuses before their body is read.
    """
    for route in router.routes:
        if isinstance(route, APIRoute) and not asyncio.iscoroutinefunction(route.endpoint):
            route.endpoint = _checked_here(route.endpoint)


def _is_staff(annotation: Any) -> bool:
    return get_origin(annotation) is Annotated and any(
        isinstance(meta, DependsParam) and meta.dependency is require_staff
        for meta in get_args(annotation)[1:]
    )


def _checked_here(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` with its ``Staff`` parameter filled by :func:`require_staff` in its own
    call (unchanged if it takes none)."""
    if getattr(endpoint, _CHECKED, False):
        return endpoint
    signature = inspect.signature(endpoint, eval_str=True)
    params = list(signature.parameters.values())
    staff = [p.name for p in params if _is_staff(p.annotation)]
    if not staff:
        return endpoint
    requests = [p.name for p in params if p.annotation is Request]
    if len(staff) != 1 or len(requests) != 1:
        raise TypeError(f"{endpoint.__qualname__}: a staff route takes one Request and one Staff")
    (name,), (request_name,) = staff, requests

    @functools.wraps(endpoint)
    def checked(**values: Any) -> Any:
        return endpoint(**values, **{name: require_staff(values[request_name])})

    checked.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in params if p.name != name])
    setattr(checked, _CHECKED, True)
    return checked


async def check_form(request: Request) -> FormData:
    """The posted form, after the CSRF check (HTTP 400 with a plain message otherwise)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > _MAX_FORM_BYTES):
        raise HTTPException(status_code=413, detail="the form is too large")
    form = await request.form(max_files=0, max_fields=200)
    token = form.get("csrf_token")
    try:
        verify_csrf(request, token if isinstance(token, str) else None)
    except CsrfError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    if any(has_nul(k) or (isinstance(v, str) and "\x00" in v) for k, v in form.multi_items()):
        # No id, name, reference or text of ours holds one; PostgreSQL refuses it in text.
        raise HTTPException(status_code=400, detail="the form holds a NUL character")
    request.state.staff_form = form  # for the error page: what she typed is not lost
    return form


_CASE_PATHS = "/staff/cases/"


async def record_malformed_request(scope: MutableMapping[str, Any]) -> None:
    """A case page asked for with a NUL in its address: refused (400) by the security
    middleware, and recorded here as a denial when a signed-in staff member asked (I2)."""
    if not str(scope.get("path", "")).startswith(_CASE_PATHS):
        return
    request = Request(scope)

    def record() -> None:  # blocking (a session read, a ledger batch): off the event loop
        found = _session(request)
        if found is None or found.state is not SessionState.ACTIVE:
            return
        record_failure(instance_of(request), actor_for(found.user), None, None,
                       "malformed_case_id")

    await anyio.to_thread.run_sync(record)


def render_staff(
    request: Request, name: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A staff page, with a fresh CSRF token and the signed-in person's areas."""
    staff: StaffRequest | None = getattr(request.state, "staff", None)
    values = {
        "lang": "en",
        "csrf": csrf_token(request),
        "me": staff.user if staff else None,
        "my_areas": {a.value for a in service.areas(staff.user)} if staff else set(),
        **context,
    }
    return TEMPLATES.TemplateResponse(request, name, values, status_code=status_code)


def _set_cookie(request: Request, response: Response, token: str) -> None:
    secure = bool(instance_of(request).settings.secure_cookie) or request.url.scheme == "https"
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", path="/staff", secure=secure,
    )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# ---- routes ---------------------------------------------------------------------------------


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> HTMLResponse:
    return render_staff(request, "staff/sign_in.html", error="", username="")


_REFUSED = ("The username, password or code is not right. After several wrong tries, "
            "wait 15 minutes before trying again.")
_THROTTLED = "Too many attempts from here. Wait a few minutes."


def _sealer(request: Request) -> service.TotpSealer:
    # Read per use: the key file is small, and a key made by `init` after start is found.
    return service.totp_sealer(instance_of(request).settings)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    form = await check_form(request)
    username = _text(form, "username")
    with instance_of(request).engine.begin() as conn:
        result = service.authenticate(conn, username=username, password=_text(form, "password"),
                                      totp_code=_text(form, "code") or None,
                                      totp=_sealer(request),
                                      source=source_key(request, "staff-sign-in"),
                                      hasher=instance_of(request).settings.password_hasher)
        token = None
        state = SessionState.ENROL
        if result.must_change_password:
            state = SessionState.PASSWORD  # a one-time password: only choosing a new one
        elif result.outcome is SignInOutcome.SIGNED_IN:
            state = SessionState.ACTIVE
        if result.user is not None and result.outcome in (SignInOutcome.SIGNED_IN,
                                                          SignInOutcome.ENROL):
            token = service.start_session(conn, result.user, state)
    if result.outcome is SignInOutcome.THROTTLED:
        return render_staff(request, "staff/sign_in.html", status_code=429, username=username,
                            error=_THROTTLED)
    if token is None:
        return render_staff(request, "staff/sign_in.html", status_code=401, username=username,
                            error=_REFUSED)
    response = RedirectResponse(_landing(state), status_code=303)
    _set_cookie(request, response, token)
    return response


def _landing(state: SessionState) -> str:
    return {SessionState.ACTIVE: "/staff/", SessionState.PASSWORD: PASSWORD_PAGE}.get(
        state, "/staff/totp")


@router.get("/totp", response_class=HTMLResponse)
def totp_form(request: Request) -> Response:
    found = _session(request)
    if found is None:
        raise _to_sign_in()
    if found.state is not SessionState.ENROL:
        return RedirectResponse(_landing(found.state), status_code=303)
    return _enrol_page(request, found, error="")


def _enrol_page(request: Request, found: StaffRequest, error: str,
                status_code: int = 200) -> Response:
    try:
        with instance_of(request).engine.begin() as conn:
            secret = service.pending_totp_secret(conn, found.token, _sealer(request))
            if secret is None:
                secret = service.begin_totp_enrolment(conn, found.token, _sealer(request))
    except AccessDenied:
        # A password-only session of an account that has a factor by now (set up elsewhere):
        # it can enrol nothing, so it ends here.
        with instance_of(request).engine.begin() as conn:
            service.end_session(conn, found.token)
        return _signed_out()
    uri = service.totp_uri(found.user, secret)
    # Drawn here as inline SVG: the secret never goes to a QR service or any other host.
    qr = segno.make(uri, error="m").svg_inline(
        scale=5, title="QR code for your authenticator app", svgclass="qr", lineclass=None)
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render_staff(request, "staff/totp.html", status_code=status_code, qr_svg=qr,
                        secret=grouped, error=error, user=found.user)


@router.post("/totp", response_class=HTMLResponse)
async def totp_confirm(request: Request) -> Response:
    found = _session(request)
    if found is None:
        raise _to_sign_in()
    form = await check_form(request)
    if found.state is not SessionState.ENROL:
        # A signed-in session never replaces the factor it signed in with.
        return RedirectResponse(_landing(found.state), status_code=303)
    with instance_of(request).engine.begin() as conn:
        token = service.confirm_totp_enrolment(conn, found.token, _text(form, "code"),
                                               _sealer(request))
    if token is None:
        return _enrol_page(request, found, "That code did not match. Try the next one.", 400)
    response = RedirectResponse("/staff/", status_code=303)
    _set_cookie(request, response, token)  # a new token: the enrolling one has ended
    return response


@router.get("/password", response_class=HTMLResponse)
def password_form(request: Request) -> Response:
    found = _session(request)
    if found is None:
        raise _to_sign_in()
    if found.state is not SessionState.PASSWORD:
        return RedirectResponse(_landing(found.state), status_code=303)
    return render_staff(request, "staff/password.html", error="", user=found.user)


@router.post("/password", response_class=HTMLResponse)
async def password_change(request: Request) -> Response:
    found = _session(request)
    if found is None:
        raise _to_sign_in()
    form = await check_form(request)
    if found.state is not SessionState.PASSWORD:
        return RedirectResponse(_landing(found.state), status_code=303)
    new, again = _text(form, "password"), _text(form, "password_again")
    error = ""
    if new != again:
        error = "The two passwords are not the same. Type the new password twice."
    else:
        try:
            with instance_of(request).engine.begin() as conn:
                changed = service.change_password(
                    conn, found.token, new,
                    hasher=instance_of(request).settings.password_hasher)
        except InvalidInput as exc:
            error = f"Choose another password: {exc}."
        else:
            if changed is None:
                return _signed_out()
            response = RedirectResponse(_landing(changed[1]), status_code=303)
            _set_cookie(request, response, changed[0])  # a new token: every old session ended
            return response
    return render_staff(request, "staff/password.html", status_code=400, error=error,
                        user=found.user)


def _signed_out() -> Response:
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(COOKIE, path="/staff")
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    # The token is checked whether or not a session came with the request, and the cookie is
    # cleared only when it was sent: a cross-site POST (which SameSite=Strict sends without
    # it) changes nothing.
    found = _session(request)  # first: it binds the CSRF check to the session
    await check_form(request)
    if request.cookies.get(COOKIE) is None:
        return RedirectResponse(SIGN_IN, status_code=303)
    if found is not None:
        with instance_of(request).engine.begin() as conn:
            service.end_session(conn, found.token)
    return _signed_out()
