"""Staff pages of the police-forces tracker: start a round, record sending, record answers.

Signed-in staff whose role is offered the campaign area (``services.auth``) only; the FOI
records are the campaign's own, not case data, so no guard decision is involved. Each route
checks the form's CSRF token, calls one tracker service, and redirects back. A refusal is shown
by the app's exception handlers (:mod:`safereport.web.errors`): a denial on the tracker's own
denial page, refused input on the tracker page with the reason, for the round the form was
about.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from safereport.errors import AccessDenied, InvalidInput
from safereport.services.auth import StaffArea, ensure_area
from safereport.stats import tracker
from safereport.stats.foi import Classification
from safereport.stats.forces import load_forces
from safereport.web.auth import Staff, StaffRequest, check_form, instance_of, render_staff
from safereport.web.errors import ErrorPages, shown_by

__all__ = ["router"]

router = APIRouter(prefix="/staff/foi", include_in_schema=False)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"the {what} must be a date (YYYY-MM-DD)") from exc


def _page(request: Request, round_name: str | None, *, error: str = "",
          status_code: int = 200) -> HTMLResponse:
    engine = instance_of(request).engine
    today = date.today()
    tallies = tracker.round_tallies(engine, today)
    names = {t.name for t in tallies}
    chosen = round_name if round_name in names else None
    return render_staff(
        request, "public/staff_foi.html", status_code=status_code, error=error,
        tallies=tallies, rows=tracker.tally_rows, chosen=chosen,
        requests=tracker.list_requests(engine, chosen) if chosen else [],
        overdue=tracker.overdue_requests(engine, today), today=today, forces=load_forces(),
        classifications=list(Classification),
    )


def _back(round_name: str) -> RedirectResponse:
    return RedirectResponse(f"/staff/foi?round={quote(round_name)}", status_code=303)


def _foi_denied(request: Request, exc: AccessDenied) -> Response:
    return render_staff(request, "public/staff_foi_denied.html", status_code=403,
                        message=str(exc))


def _foi_invalid(request: Request, exc: InvalidInput) -> Response:
    return _page(request, getattr(request.state, "foi_round", None), error=str(exc),
                 status_code=400)


#: A refusal here: the tracker's own denial page, or the tracker with the reason (HTTP 400).
_shows_refusals = shown_by(ErrorPages(denied=_foi_denied, invalid=_foi_invalid))


def _enter(request: Request, staff: StaffRequest, round_name: str | None) -> None:
    """Only for the campaign area; a refusal from here on shows the round ``round_name``."""
    request.state.foi_round = round_name
    ensure_area(staff.user, StaffArea.CAMPAIGN)


@router.get("", response_class=HTMLResponse)
@_shows_refusals
def overview(request: Request, staff: Staff,
             round_name: Annotated[str | None, Query(alias="round")] = None) -> Response:
    _enter(request, staff, round_name)
    return _page(request, round_name)


@router.post("/rounds")
@_shows_refusals
async def new_round(request: Request, staff: Staff) -> Response:
    form = await check_form(request)
    name = _text(form, "name")
    _enter(request, staff, None)
    tracker.create_round(instance_of(request).engine, name, _text(form, "question"))
    return _back(name)


@router.post("/send")
@_shows_refusals
async def send(request: Request, staff: Staff) -> Response:
    form = await check_form(request)
    name = _text(form, "round")
    _enter(request, staff, name)
    chosen = [f for f in form.getlist("force") if isinstance(f, str) and f]
    if not chosen:
        raise InvalidInput("choose at least one force (or all of them)")
    force_ids = None if "all" in chosen else chosen
    tracker.send_requests(instance_of(request).engine, name, force_ids,
                          _day(_text(form, "date"), "date sent"))
    return _back(name)


@router.post("/answer")
@_shows_refusals
async def answer(request: Request, staff: Staff) -> Response:
    form = await check_form(request)
    name = _text(form, "round")
    _enter(request, staff, name)
    kind = _text(form, "classification")
    if kind not in set(Classification):
        raise InvalidInput("choose how the answer reads")
    answered = _text(form, "date")
    tracker.record_answer(
        instance_of(request).engine, name, _text(form, "force"),
        classification=Classification(kind),
        answered_on=_day(answered, "answer date") if answered else None,
        answer_text=_text(form, "text") or None,
    )
    return _back(name)
