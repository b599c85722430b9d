"""Evidence attachments on her side (issue 18): her files, the upload form, the download.

``GET /return/evidence`` lists what she (and her caseworker) attached, with a download button
each and the upload form; ``POST /return/evidence`` takes a file and answers with a redirect
(POST/redirect/GET, one-use token: Back never sends it twice); ``POST /return/evidence/download``
gives one file as a download (a POST, so nothing of it stays in her history). Every read goes
through the road (:mod:`safereport.services.evidence`), so it shows under "who has seen my
data". Parsing, limits and download headers are shared with the staff routes
(:mod:`safereport.web.evidence`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from safereport.errors import SafeReportError
from safereport.services import evidence as service
from safereport.services.evidence import EvidenceRefused, limits_of
from safereport.web.evidence import UploadTooLarge, download_response, read_upload, upload_of
from safereport.web.i18n import N_
from safereport.web.security import CsrfError, has_nul, verify_csrf
from safereport.web.victim import current_return_session
from safereport.web.victim_session import Flash, session_of, spent_tokens
from safereport.web.victim_support import language_of, localised_url, render, translate

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_ADDED = N_("Your file has been added.")
_CHOOSE = N_("Please choose a file first.")
_FAILED = N_("Something went wrong. Nothing was saved. Please try again.")
_UNREADABLE = N_("This file could not be read or cleaned. It may be damaged or have a password. "
                 "Nothing was saved.")
_REFUSALS = {
    "empty": _UNREADABLE,
    "too_large": N_("The file is too large: the largest we can take is %(mb)s MB. Nothing "
                    "was saved."),
    "unknown_type": N_("This file is not a photo, a PDF, a sound or a video file, whatever "
                       "its name says, so we cannot take it. Nothing was saved."),
    "unreadable": _UNREADABLE,
    "encrypted_pdf": _UNREADABLE,
    "needs_choice": N_("We cannot remove hidden information from sound and video files. To "
                       "send it anyway, tick “Sound or video: send it as it is” and choose the "
                       "file again. Nothing was saved."),
}


def _back(lang: str) -> RedirectResponse:
    return RedirectResponse(localised_url("/return/evidence", lang), status_code=303)


@router.get("/return/evidence", response_class=HTMLResponse)
def her_evidence(request: Request) -> Response:
    lang = language_of(request)
    found = session_of(request)
    session = current_return_session(request)
    if found is None or session is None:
        return RedirectResponse(localised_url("/return", lang), status_code=303)
    flash, found.flash = found.flash or Flash(), None
    instance = request.app.state.instance
    limits = limits_of(instance.settings)
    try:
        items = service.list_for_victim(instance, session)
    except SafeReportError:
        items = []
    return render(request, "victim/evidence.html", lang, items=items, notice=flash.notice,
                  errors=flash.errors, max_mb=limits.max_bytes // (1024 * 1024),
                  media_max_mb=limits.media_max_bytes // (1024 * 1024))


@router.post("/return/evidence")
def her_upload(request: Request) -> Response:
    # Her session first, from the cookie alone: without one, the body is never read (nobody
    # gets to have 50 MB parsed to disk for them without a codename).
    found = session_of(request)
    session = current_return_session(request)
    if found is None or session is None:
        return RedirectResponse(localised_url("/return", language_of(request)),
                                status_code=303)
    try:
        form: FormData | None = read_upload(request)
    except UploadTooLarge:
        form = None
    lang = language_of(request, form)
    instance = request.app.state.instance
    if form is None:
        mb = limits_of(instance.settings).largest // (1024 * 1024)
        found.flash = Flash(errors={"file": translate(lang, _REFUSALS["too_large"], mb=mb)})
        return _back(lang)
    upload = upload_of(form)
    try:
        token = form.get("csrf_token")
        try:
            verify_csrf(request, token if isinstance(token, str) else None)
        except CsrfError:
            found.flash = Flash(notice=translate(lang, _FAILED))
            return _back(lang)
        if not isinstance(token, str) or has_nul(token) or not spent_tokens(request).spend(token):
            return _back(lang)  # a replay: nothing is done again
        if upload is None or (not upload.filename and not upload.size):
            found.flash = Flash(errors={"file": translate(lang, _CHOOSE)})
            return _back(lang)
        try:
            service.attach_for_victim(instance, session, upload.file,
                                      keep_uncleaned=form.get("keep_uncleaned") == "1")
        except EvidenceRefused as exc:
            found.flash = Flash(errors={"file": translate(
                lang, _REFUSALS[exc.reason], mb=exc.limit_mb)})
            return _back(lang)
        except SafeReportError:
            found.flash = Flash(notice=translate(lang, _FAILED))
            return _back(lang)
        found.flash = Flash(notice=translate(lang, _ADDED))
        return _back(lang)
    finally:
        if upload is not None:
            upload.file.close()


@router.post("/return/evidence/download")
async def her_download(request: Request) -> Response:
    # Spends no token: it changes nothing, and the page's other forms share its token.
    form = await request.form(max_files=0, max_fields=8)
    lang = language_of(request, form)
    found = session_of(request)
    session = current_return_session(request)
    if found is None or session is None:
        return RedirectResponse(localised_url("/return", lang), status_code=303)
    token = form.get("csrf_token")
    try:
        verify_csrf(request, token if isinstance(token, str) else None)
    except CsrfError:
        found.flash = Flash(notice=translate(lang, _FAILED))
        return _back(lang)
    wanted = str(form.get("evidence") or "")[:32]
    try:
        got = service.open_for_victim(request.app.state.instance, session, wanted)
    except SafeReportError:
        found.flash = Flash(notice=translate(lang, _FAILED))
        return _back(lang)
    return download_response(got)
