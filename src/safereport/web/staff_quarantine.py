"""The quarantine page (issue 19): reports held as suspected spam, for a caseworker to review.

``GET /staff/quarantine`` lists them (routing facts only, nothing decrypted); ``GET
/staff/quarantine/{case_id}`` opens one through the road (decided and recorded) with the words
that weighed; ``POST .../release`` puts it in the case list, ``POST .../not-real`` confirms it
is not a real report (it is shredded with the rest when its time comes). Each route calls one
service (:mod:`safereport.services.quarantine`) and renders; a refusal is the staff error page
(:mod:`safereport.web.errors`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from safereport.domain.fields import FIELD_LABELS
from safereport.domain.spam import MIN_MARKS, THRESHOLD
from safereport.services import quarantine
from safereport.web.auth import Staff, check_form, instance_of, render_staff
from safereport.web.errors import back_to  # the one way staff pages show refusals

__all__ = ["router"]

router = APIRouter(prefix="/staff", include_in_schema=False)


@router.get("/quarantine", response_class=HTMLResponse)
@back_to("/staff/")
def quarantine_list(request: Request, staff: Staff, done: str = "") -> Response:
    instance = instance_of(request)
    held, total = quarantine.list_held(instance, staff.user)
    return render_staff(request, "staff/quarantine.html", held=held, total=total,
                        days=quarantine.quarantine_days(instance), done=done)


@router.get("/quarantine/{case_id}", response_class=HTMLResponse)
@back_to("/staff/quarantine")
def quarantine_report(request: Request, staff: Staff, case_id: str) -> Response:
    page = quarantine.held_page(instance_of(request), staff.user, case_id)
    return render_staff(request, "staff/quarantine_report.html", page=page,
                        field_labels=FIELD_LABELS, threshold=THRESHOLD,
                        min_marks=MIN_MARKS)


@router.post("/quarantine/{case_id}/release")
@back_to("/staff/quarantine/{case_id}")
async def release(request: Request, staff: Staff, case_id: str) -> Response:
    await check_form(request)
    quarantine.release(instance_of(request), staff.user, case_id)
    return RedirectResponse("/staff/quarantine?done=released", status_code=303)


@router.post("/quarantine/{case_id}/not-real")
@back_to("/staff/quarantine/{case_id}")
async def not_real(request: Request, staff: Staff, case_id: str) -> Response:
    await check_form(request)
    quarantine.mark_not_real(instance_of(request), staff.user, case_id)
    return RedirectResponse("/staff/quarantine?done=not_real", status_code=303)
