"""The auditor's pages: checkpoint, verification, witness cosignatures, denials, counts by rule.

Nothing here reads case data; the oversight service says who is offered these pages.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from safereport.domain.refusals import SERVICE_RULE_MEANINGS
from safereport.errors import InvalidInput
from safereport.services import oversight
from safereport.web.auth import Staff, StaffRequest, check_form, instance_of, render_staff
from safereport.web.errors import back_to

__all__ = ["router"]

router = APIRouter(prefix="/staff", include_in_schema=False)


def _page(request: Request, staff: StaffRequest, *, notice: str = "", error: str = "",
          status_code: int = 200) -> Response:
    overview = oversight.audit_overview(instance_of(request), staff.user)
    return render_staff(request, "staff/audit.html", status_code=status_code, o=overview,
                        notice=notice, error=error, rule_meanings=SERVICE_RULE_MEANINGS)


@router.get("/audit", response_class=HTMLResponse)
@back_to("/staff/")
def audit(request: Request, staff: Staff) -> Response:
    return _page(request, staff)


@router.post("/audit/cosignatures", response_class=HTMLResponse)
@back_to("/staff/audit")
async def add_cosignature(request: Request, staff: Staff) -> Response:
    form = await check_form(request)
    try:
        size = oversight.add_cosignature(instance_of(request), staff.user,
                                         str(form.get("note", "")), str(form.get("vkey", "")))
    except InvalidInput as exc:
        return _page(request, staff, error=str(exc), status_code=400)
    return _page(request, staff, notice=f"Cosigned checkpoint of size {size} verified and kept.")


@router.post("/audit/verify", response_class=HTMLResponse)
@back_to("/staff/audit")
async def verify(request: Request, staff: Staff) -> Response:
    await check_form(request)
    ok, message = oversight.verify_now(instance_of(request), staff.user)
    if ok:
        return _page(request, staff, notice="The whole log verified: " + message)
    return _page(request, staff, error="Verification failed: " + message, status_code=409)
