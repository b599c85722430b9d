"""Staff sign-in: password and TOTP, enrolment with a QR code drawn here, sessions, sign-out.

The session cookie holds only a random token (its SHA-256 keys the server-side row), and is
``HttpOnly``, ``SameSite=Strict``, path ``/staff``, and ``Secure`` whenever the request came
over HTTPS. (Chromium treats http://127.0.0.1 as a secure context, but a Secure cookie set over
plain HTTP is still dropped by other clients; the flag follows the scheme so that local tests
and a TLS deployment both work. Behind a TLS-terminating proxy, run uvicorn with
``--proxy-headers`` so the scheme is seen as https.)

Each form carries the CSRF token of :mod:`safereport.web.security`, bound to the session.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import segno
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from safereport.services import auth as service
from safereport.services.auth import SessionState, SignInOutcome, StaffUser
from safereport.services.instance import Instance
from safereport.web.app import TEMPLATES
from safereport.web.security import CsrfError, RateLimiter, client_key, csrf_token, verify_csrf

__all__ = [
    "COOKIE",
    "StaffRequest",
    "check_form",
    "render_staff",
    "require_staff",
    "router",
]

COOKIE = "sr_staff"
SIGN_IN = "/staff/sign-in"
router = APIRouter(prefix="/staff", include_in_schema=False)

_SIGNIN_LIMIT = (30, 300)  # sign-in attempts per client address per 5 minutes, per app


def _signin_limiter(request: Request) -> RateLimiter:
    """The app's own limiter (held on the app, so two apps in one process never share)."""
    state = request.app.state
    limiter = getattr(state, "signin_limiter", None)
    if not isinstance(limiter, RateLimiter):
        limiter = RateLimiter(limit=_SIGNIN_LIMIT[0], window=_SIGNIN_LIMIT[1])
        state.signin_limiter = limiter
    return limiter
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
    with instance_of(request).engine.begin() as conn:
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
    if found.state is not SessionState.ACTIVE:
        raise HTTPException(status_code=303, headers={"Location": "/staff/totp"})
    request.state.staff = found
    return found


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
    return form


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
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", path="/staff",
        secure=request.url.scheme == "https",
    )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# ---- routes ---------------------------------------------------------------------------------


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> HTMLResponse:
    return render_staff(request, "staff/sign_in.html", error="", username="")


_MESSAGES = {
    SignInOutcome.REFUSED: "The username, password or code is not right.",
    SignInOutcome.LOCKED: "Too many failed attempts: this account is locked for a while. "
                          "Ask an administrator if you need in sooner.",
}


def _sealer(request: Request) -> service.TotpSealer:
    # Read per use: the key file is small, and a key made by `init` after start is found.
    return service.totp_sealer(instance_of(request).settings)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    form = await check_form(request)
    username = _text(form, "username")
    if not _signin_limiter(request).hit(client_key(request, "staff-sign-in")):
        return render_staff(request, "staff/sign_in.html", status_code=429, username=username,
                            error="Too many attempts from here. Wait a few minutes.")
    with instance_of(request).engine.begin() as conn:
        result = service.authenticate(conn, username=username, password=_text(form, "password"),
                                      totp_code=_text(form, "code") or None,
                                      totp=_sealer(request))
        token = None
        if result.user is not None and result.outcome is SignInOutcome.SIGNED_IN:
            token = service.start_session(conn, result.user, SessionState.ACTIVE)
        elif result.user is not None and result.outcome is SignInOutcome.ENROL:
            token = service.start_session(conn, result.user, SessionState.ENROL)
    if token is None:
        return render_staff(request, "staff/sign_in.html", status_code=401, username=username,
                            error=_MESSAGES[result.outcome])
    target = "/staff/" if result.outcome is SignInOutcome.SIGNED_IN else "/staff/totp"
    response = RedirectResponse(target, status_code=303)
    _set_cookie(request, response, token)
    return response


@router.get("/totp", response_class=HTMLResponse)
def totp_form(request: Request) -> Response:
    found = _session(request)
    if found is None:
        raise _to_sign_in()
    if found.state is SessionState.ACTIVE:
        return RedirectResponse("/staff/", status_code=303)
    return _enrol_page(request, found, error="")


def _enrol_page(request: Request, found: StaffRequest, error: str,
                status_code: int = 200) -> HTMLResponse:
    with instance_of(request).engine.begin() as conn:
        secret = service.pending_totp_secret(conn, found.token, _sealer(request))
        if secret is None:
            secret = service.begin_totp_enrolment(conn, found.token, _sealer(request))
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
    with instance_of(request).engine.begin() as conn:
        ok = service.confirm_totp_enrolment(conn, found.token, _text(form, "code"),
                                            _sealer(request))
    if not ok:
        return _enrol_page(request, found, "That code did not match. Try the next one.", 400)
    return RedirectResponse("/staff/", status_code=303)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    found = _session(request)
    if found is not None:
        await check_form(request)
        with instance_of(request).engine.begin() as conn:
            service.end_session(conn, found.token)
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(COOKIE, path="/staff")
    return response
