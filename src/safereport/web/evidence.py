"""Evidence attachments over the web (issue 18): the staff routes, and what her routes
(:mod:`safereport.web.victim_evidence`) share with them.

* Staff: ``GET /staff/cases/{case_id}/evidence`` (the case's attachments, each a download
  link, and the upload form), ``POST`` to the same address (upload), ``GET
  /staff/cases/{case_id}/evidence/{evidence_id}`` (the download: decided and recorded first),
  and ``.../play`` (a recording for the case page's player, with its sound type; issue 18).
* Her side: ``GET /return/evidence`` (her attachments and the upload form), ``POST
  /return/evidence`` (upload, then a redirect), ``POST /return/evidence/download`` (the
  download; a POST so that nothing of it is left in her history).

Uploads are parsed by Starlette, which spools each file to a temporary file on disk past
1 MiB; the body as a whole is counted by the security middleware while it streams in, with
the limit raised for these routes only (:data:`safereport.web.security.UPLOAD_LIMITS`) to the
configured size. These routes are plain ``def`` (run in the threadpool) and parse the form on
the event loop through ``anyio.from_thread``: an ``async def`` route here would have its whole
body read into memory first (:mod:`safereport.web.offload`).

Every download is an attachment, never shown in a page: ``Content-Disposition: attachment``
with a neutral name (``evidence-3.jpg``), ``Content-Type: application/octet-stream``,
``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: sandbox`` on top of the
site's policy, so an uploaded file cannot script a staff member's (or her) browser.
"""

from __future__ import annotations

from typing import Any

import anyio.from_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from safereport.errors import NotFound
from safereport.services import evidence as service
from safereport.services.auth import StaffArea, ensure_area
from safereport.services.evidence import Download, EvidenceRefused, limits_of
from safereport.web.auth import Staff, StaffRequest, instance_of, render_staff
from safereport.web.errors import back_to
from safereport.web.security import UPLOAD_LIMITS, CsrfError, RequestTooLarge, verify_csrf

__all__ = ["UploadTooLarge", "download_response", "read_upload", "router", "upload_of"]

router = APIRouter(include_in_schema=False)

#: Room for the form's other fields and the multipart framing around the file.
_FORM_OVERHEAD = 64 * 1024


def _upload_limit(settings: Any) -> int:
    return limits_of(settings).largest + _FORM_OVERHEAD


UPLOAD_LIMITS[("POST", r"/staff/cases/[^/]+/evidence")] = _upload_limit
UPLOAD_LIMITS[("POST", r"/return/evidence")] = _upload_limit


class UploadTooLarge(Exception):
    """The body went past the route's limit while it streamed in (nothing was kept)."""


def read_upload(request: Request, *, max_files: int = 1, max_fields: int = 8,
                max_part_size: int = 4096) -> FormData:
    """The multipart form, parsed on the event loop (files spooled to disk), from a worker
    thread. Raises :class:`UploadTooLarge` when the body passes the route's limit."""

    async def parse() -> FormData:
        return await request.form(max_files=max_files, max_fields=max_fields,
                                  max_part_size=max_part_size)

    try:
        return anyio.from_thread.run(parse)
    except RequestTooLarge as exc:
        raise UploadTooLarge() from exc


def upload_of(form: FormData) -> UploadFile | None:
    value = form.get("file")
    return value if isinstance(value, UploadFile) else None


def download_response(got: Download) -> Response:
    """A file as a download only: never rendered, sniffed or scripted in a page."""
    return Response(
        content=got.data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{got.filename}"',
            "X-Content-Type-Options": "nosniff",
            # Added to the site's policy by the security middleware: no script, no plugin,
            # no same origin, even if a browser were made to render it.
            "Content-Security-Policy": "sandbox",
        },
    )


# ---- staff ----------------------------------------------------------------------------------


def _staff_page(request: Request, staff: StaffRequest, case_id: str, *, error: str = "",
                status_code: int = 200) -> HTMLResponse:
    instance = instance_of(request)
    limits = limits_of(instance.settings)
    return render_staff(
        request, "staff/evidence.html", status_code=status_code, case_id=case_id,
        items=service.list_for_staff(instance, staff.user, case_id), error=error,
        max_mb=limits.max_bytes // (1024 * 1024),
        media_max_mb=limits.media_max_bytes // (1024 * 1024))


@router.get("/staff/cases/{case_id}/evidence", response_class=HTMLResponse)
@back_to("/staff/cases/{case_id}")
def staff_evidence(request: Request, staff: Staff, case_id: str) -> Response:
    return _staff_page(request, staff, case_id)


@router.post("/staff/cases/{case_id}/evidence", response_class=HTMLResponse)
@back_to("/staff/cases/{case_id}")
def staff_upload(request: Request, staff: Staff, case_id: str) -> Response:
    try:
        form = read_upload(request)
    except UploadTooLarge:
        mb = limits_of(instance_of(request).settings).largest // (1024 * 1024)
        return _staff_page(
            request, staff, case_id, status_code=413,
            error=f"The file is too large: the largest accepted is {mb} MB. Nothing was saved.")
    token = form.get("csrf_token")
    try:
        verify_csrf(request, token if isinstance(token, str) else None)
    except CsrfError:
        return render_staff(request, "staff/error.html", status_code=400,
                            message="This form was open too long or came from elsewhere. "
                                    "Nothing was saved.",
                            back=f"/staff/cases/{case_id}/evidence")
    upload = upload_of(form)
    try:
        ensure_area(staff.user, StaffArea.CASEWORK)
        if upload is None or (not upload.filename and upload.size == 0):
            return _staff_page(request, staff, case_id, status_code=400,
                               error="Choose a file to attach. Nothing was saved.")
        try:
            service.attach_for_staff(instance_of(request), staff.user, case_id, upload.file,
                                     keep_uncleaned=form.get("keep_uncleaned") == "1")
        except EvidenceRefused as exc:
            return _staff_page(request, staff, case_id, status_code=400, error=str(exc))
        return RedirectResponse(f"/staff/cases/{case_id}/evidence#attached", status_code=303)
    finally:
        if upload is not None:
            upload.file.close()


@router.get("/staff/cases/{case_id}/evidence/{evidence_id}/play")
@back_to("/staff/cases/{case_id}")
def staff_play(request: Request, staff: Staff, case_id: str, evidence_id: str) -> Response:
    """A recording for the case page's ``<audio>`` player (her recorded answer): opened
    through the road like a download (decided and recorded first), served with its own sound
    or video type so that the player can play it, still as an attachment, ``nosniff`` and
    sandboxed. Anything else (a photo, a PDF) is not served here."""
    got = service.open_for_staff(instance_of(request), staff.user, case_id, evidence_id)
    if not service.is_media(got.media_type):
        raise NotFound("no such recording")
    response = download_response(got)
    response.headers["content-type"] = got.media_type
    return response


@router.get("/staff/cases/{case_id}/evidence/{evidence_id}")
@back_to("/staff/cases/{case_id}")
def staff_download(request: Request, staff: Staff, case_id: str, evidence_id: str) -> Response:
    return download_response(
        service.open_for_staff(instance_of(request), staff.user, case_id, evidence_id))
