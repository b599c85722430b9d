"""The administrator's pages: staff accounts (issue 20). No case data is read here (P5).

``/staff/admin`` lists every account, the second-factor resets waiting for a second
administrator, a form to add an account, and the scheduled work (each job's last and next
run); ``/staff/admin/account?username=...`` shows one account with its actions (disable or
enable, reset the password, change the role, ask for, confirm or cancel a second-factor
reset). Each action is one POST with the CSRF token, calls
one service (services/users.py), which puts it on the ledger, and shows the result. A
denial (the account is not an administrator's) is the staff denial page, drawn by the app's
handlers (web/errors.py); refused input is shown on the page the action came from.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from safereport.domain.vocabulary import ActorRole
from safereport.errors import InvalidInput
from safereport.services import scheduler, users
from safereport.web.auth import Staff, StaffRequest, check_form, instance_of, render_staff
from safereport.web.errors import back_to

__all__ = ["router"]

router = APIRouter(prefix="/staff", include_in_schema=False)

_ROLES = tuple(r for r in ActorRole if r is not ActorRole.VICTIM)
_OTP_DAYS = users.ONE_TIME_PASSWORD_LIFETIME.days
_RESET_HOURS = int(users.FACTOR_RESET_LIFETIME.total_seconds() // 3600)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _admin(request: Request, staff: StaffRequest) -> users.Admin:
    return users.admin_for(instance_of(request), staff.user)


def _overview(request: Request, admin: users.Admin, *, notice: str = "", error: str = "",
              status_code: int = 200, **extra: object) -> HTMLResponse:
    instance = instance_of(request)
    return render_staff(
        request, "staff/admin.html", status_code=status_code, notice=notice, error=error,
        accounts=users.list_users(instance), resets=users.pending_factor_resets(instance),
        must_change=users.must_change_password(instance), orgs=users.list_orgs(instance),
        roles=_ROLES, me_id=admin.user_id, otp_days=_OTP_DAYS, reset_hours=_RESET_HOURS,
        jobs=scheduler.scheduled_jobs(instance), **extra)


def _account_page(request: Request, admin: users.Admin, username: str, *, notice: str = "",
                  error: str = "", status_code: int = 200,
                  one_time_password: str = "") -> HTMLResponse:
    instance = instance_of(request)
    account = next((a for a in users.list_users(instance) if a.username == username), None)
    if account is None:
        return _overview(request, admin, error=f"No staff account called {username!r}.",
                         status_code=404)
    reset = next((r for r in users.pending_factor_resets(instance)
                  if r.user_id == account.id), None)
    return render_staff(
        request, "staff/admin_account.html", status_code=status_code, a=account,
        reset=reset, must_change=username in users.must_change_password(instance),
        roles=_ROLES, me_id=admin.user_id, notice=notice, error=error,
        one_time_password=one_time_password, otp_days=_OTP_DAYS, reset_hours=_RESET_HOURS)


@router.get("/admin", response_class=HTMLResponse)
@back_to("/staff/")
def overview(request: Request, staff: Staff) -> Response:
    return _overview(request, _admin(request, staff))


@router.get("/admin/account", response_class=HTMLResponse)
@back_to("/staff/admin")
def account(request: Request, staff: Staff, username: str = "") -> Response:
    return _account_page(request, _admin(request, staff), username[:100])


@router.post("/admin/accounts", response_class=HTMLResponse)
@back_to("/staff/admin")
async def add(request: Request, staff: Staff) -> Response:
    form = await check_form(request)
    admin = _admin(request, staff)
    username = _text(form, "username")
    try:
        _, password = users.add_account(
            instance_of(request), admin, org_name=_text(form, "org"), username=username,
            display_name=_text(form, "display_name"), role=_text(form, "role"))
    except InvalidInput as exc:
        return _overview(request, admin, error=f"The account was not added: {exc}.",
                         status_code=400)
    return _account_page(request, admin, username, notice=f"{username} added.",
                         one_time_password=password)


def _act(request: Request, staff: StaffRequest, form: FormData,
         step: Callable[[users.Admin, str], str | tuple[str, str]]) -> Response:
    """Run one account action for the form's ``username``; show the account with its result
    (a notice, and a one-time password when the step gives one) or the refused input."""
    admin = _admin(request, staff)
    username = _text(form, "username")[:100]
    try:
        outcome = step(admin, username)
    except InvalidInput as exc:
        return _account_page(request, admin, username, error=f"Not done: {exc}.",
                             status_code=400)
    notice, password = outcome if isinstance(outcome, tuple) else (outcome, "")
    return _account_page(request, admin, username, notice=notice, one_time_password=password)


@router.post("/admin/disable", response_class=HTMLResponse)
@back_to("/staff/admin")
async def disable(request: Request, staff: Staff) -> Response:
    form = await check_form(request)

    def step(admin: users.Admin, username: str) -> str:
        change = users.disable_user(instance_of(request), username, by=admin)
        if not change.changed:
            return f"{username} was already disabled."
        return f"{username} is disabled; {change.sessions_ended} session(s) ended."

    return _act(request, staff, form, step)


@router.post("/admin/enable", response_class=HTMLResponse)
@back_to("/staff/admin")
async def enable(request: Request, staff: Staff) -> Response:
    form = await check_form(request)

    def step(admin: users.Admin, username: str) -> str:
        change = users.enable_user(instance_of(request), username, by=admin)
        return f"{username} is enabled." if change.changed else f"{username} was already enabled."

    return _act(request, staff, form, step)


@router.post("/admin/role", response_class=HTMLResponse)
@back_to("/staff/admin")
async def role(request: Request, staff: Staff) -> Response:
    form = await check_form(request)

    def step(admin: users.Admin, username: str) -> str:
        new = _text(form, "role")
        change = users.change_role(instance_of(request), username, new, by=admin)
        if not change.changed:
            return f"{username} is already {new.replace('_', ' ')}."
        return (f"{username} is now {new.replace('_', ' ')}; "
                f"{change.sessions_ended} session(s) ended.")

    return _act(request, staff, form, step)


@router.post("/admin/password", response_class=HTMLResponse)
@back_to("/staff/admin")
async def password(request: Request, staff: Staff) -> Response:
    form = await check_form(request)

    def step(admin: users.Admin, username: str) -> tuple[str, str]:
        new = users.reset_password(instance_of(request), username, by=admin)
        return f"{username}'s password is reset and their sessions have ended.", new

    return _act(request, staff, form, step)


@router.post("/admin/factor-reset", response_class=HTMLResponse)
@back_to("/staff/admin")
async def factor_reset(request: Request, staff: Staff) -> Response:
    form = await check_form(request)

    def step(admin: users.Admin, username: str) -> str:
        users.request_factor_reset(instance_of(request), username, _text(form, "reason"),
                                   by=admin)
        return (f"Reset of {username}'s second factor asked for. Nothing changes until a "
                "different administrator confirms it.")

    return _act(request, staff, form, step)


@router.post("/admin/factor-reset/confirm", response_class=HTMLResponse)
@back_to("/staff/admin")
async def factor_reset_confirm(request: Request, staff: Staff) -> Response:
    form = await check_form(request)

    def step(admin: users.Admin, username: str) -> str:
        ended = users.confirm_factor_reset(instance_of(request), username, by=admin)
        return (f"{username}'s second factor is removed; {ended} session(s) ended. They set up "
                "a new one at their next sign-in with their password.")

    return _act(request, staff, form, step)


@router.post("/admin/factor-reset/cancel", response_class=HTMLResponse)
@back_to("/staff/admin")
async def factor_reset_cancel(request: Request, staff: Staff) -> Response:
    form = await check_form(request)

    def step(admin: users.Admin, username: str) -> str:
        users.cancel_factor_reset(instance_of(request), username, by=admin)
        return f"The reset of {username}'s second factor is cancelled; the factor stays."

    return _act(request, staff, form, step)
