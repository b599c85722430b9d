"""Her report with its files and her recorded answer, checked before it is sent (issue 18).

The report form (``POST /report``, :mod:`safereport.web.victim`) is a multipart form that
works without JavaScript: files are spooled to disk while they arrive, within the configured
limits. Once it passes the bot defences and the checks, nothing is sent yet: her answers go
into a new session on the server (sealed; the cookie holds only a random id) and her files
into :mod:`safereport.services.report_drafts`, already typed from their content and cleaned;
then she is redirected (POST/redirect/GET) to

* ``GET /return/check``: "Check your answers before sending", one row per answer with a
  "Change" link, as GOV.UK forms do;
* ``GET /return/change``: the report form again, filled in from the draft, with her files
  listed (each can be removed) and room for more; ``POST /return/change`` saves it and
  redirects to the check page;
* ``POST /return/check``: sends it (the form's token is spent: a replay sends nothing), then
  the codename card (``/return/new``) as before.

History stays harmless: every POST answers with a redirect; the pages are ``no-store``; after
sending, after the quick exit (which ends the session and deletes the draft's files) or once
the session ends, Back and Reload find only "This page has closed".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio.from_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from safereport.domain.fields import MAX_FIELD_CHARS
from safereport.domain.vocabulary import CrimeType
from safereport.errors import SafeReportError
from safereport.services import report_drafts
from safereport.services.evidence import EvidenceRefused, limits_of
from safereport.services.intake import InvalidReport, ReportSubmission
from safereport.web.evidence import UploadTooLarge, read_upload
from safereport.web.i18n import N_
from safereport.web.security import UPLOAD_LIMITS, CsrfError, verify_csrf
from safereport.web.victim_session import (
    Card,
    Flash,
    ReturnSession,
    session_key,
    session_of,
    spent_tokens,
    start_draft,
    start_session,
)
from safereport.web.victim_support import (
    MAX_BODY_BYTES,
    MODES,
    channels,
    consent_choices,
    label,
    language_of,
    localised_url,
    problem_messages,
    render,
    switched_language,
    translate,
)

__all__ = ["SAFE_TIME_LABELS", "keep_draft", "read_report_form", "router", "spoken", "too_big"]

router = APIRouter(include_in_schema=False)

#: The fields of the report form a draft keeps (never the token, the honeypot or the puzzle).
_FIELDS = ("mode", "subject_role", "crime_type", "narrative", "occurred", "location", "name",
           "phone", "email", "safe_call", "safe_email", "safe_text", "safe_contact_note",
           "warned", "force")
_LISTS = ("consent", "safe_time")

#: Her safe times for notices (services.notices.SAFE_TIMES), as the form names them.
SAFE_TIME_LABELS: tuple[tuple[str, str], ...] = (
    ("morning", N_("Mornings (8am to 12 noon)")),
    ("afternoon", N_("Afternoons (12 noon to 5pm)")),
    ("evening", N_("Evenings (5pm to 9pm)")),
)

_CLOSED = N_("This page has closed")
_CLOSED_TEXT = N_("For your safety it cannot be shown again. Nothing was sent twice.")
_FAILED = N_("Something went wrong. Nothing was saved. Please try again.")
_TOO_BIG_FILE = N_("The file is too large: the largest we can take is %(mb)s MB. Nothing "
                   "was saved.")
#: Beside her return page's refusals (web.victim_evidence), the report form's own.
_REFUSED = {
    "not_sound": N_("Your recorded answer must be a sound file. Choose it again, or write "
                    "what happened instead."),
    "too_many": N_("A report can take at most five files. Remove one to add another."),
}


# -- reading the form -------------------------------------------------------------------------

def _report_limit(settings: Any) -> int:
    # Her recorded answer and one more file, with the form's text around them.
    return 2 * limits_of(settings).largest + MAX_BODY_BYTES


UPLOAD_LIMITS[("POST", r"/report")] = _report_limit
UPLOAD_LIMITS[("POST", r"/return/change")] = _report_limit


def read_report_form(request: Request) -> FormData | None:
    """The report form from a worker thread (a plain ``def`` route): a multipart body is
    parsed with its files spooled to disk; any other body only within the text forms' limit.
    None when it is too big (nothing is kept)."""
    kind = request.headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            return None

        async def small() -> FormData:
            return await request.form(max_files=0, max_fields=64)

        return anyio.from_thread.run(small)
    try:
        return read_upload(request, max_files=2, max_fields=64,
                           max_part_size=4 * MAX_FIELD_CHARS + 4096)
    except UploadTooLarge:
        return None


def too_big(request: Request, lang: str) -> dict[str, str]:
    """For a report form refused as too large: the file's message when it carried files."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return {}
    mb = limits_of(request.app.state.instance.settings).largest // 2 ** 20
    return {"file": translate(lang, _TOO_BIG_FILE, mb=mb)}


def _upload(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    if isinstance(value, UploadFile) and (value.filename or value.size):
        return value
    return None


def spoken(form: FormData, draft_files: list[report_drafts.DraftFile] | None = None) -> bool:
    """True when she gave (or already has) a recorded answer instead of a written one."""
    return _upload(form, "voice") is not None or any(f.voice for f in draft_files or [])


def _stored(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _FIELDS:
        value = form.get(name)
        if isinstance(value, str) and value:
            values[name] = value
    for name in _LISTS:
        values[name] = [v for v in form.getlist(name) if isinstance(v, str)]
    return values


def _as_form(values: Mapping[str, Any], lang: str) -> FormData:
    items: list[tuple[str, str | UploadFile]] = [("lang", lang)]
    for name, value in values.items():
        if isinstance(value, list):
            items.extend((name, str(v)) for v in value)
        else:
            items.append((name, str(value)))
    return FormData(items)


def _refusal(lang: str, exc: EvidenceRefused, request: Request) -> str:
    if exc.reason == "too_large":
        mb = exc.limit_mb or limits_of(request.app.state.instance.settings).largest // 2 ** 20
        return translate(lang, _TOO_BIG_FILE, mb=mb)
    from safereport.web.victim_evidence import _REFUSALS, _UNREADABLE

    return translate(lang, _REFUSED.get(exc.reason) or _REFUSALS.get(exc.reason, _UNREADABLE))


def _keep_files(request: Request, lang: str, key: str, form: FormData) -> dict[str, str]:
    """Keep the form's new files with her draft; the problems, by field."""
    instance = request.app.state.instance
    errors: dict[str, str] = {}
    for name in ("voice", "file"):
        upload = _upload(form, name)
        if upload is None:
            continue
        try:
            report_drafts.keep(instance, key, upload.file, voice=name == "voice",
                               keep_uncleaned=form.get("keep_uncleaned") == "1")
        except EvidenceRefused as exc:
            errors[name] = _refusal(lang, exc, request)
        except SafeReportError:
            errors[name] = translate(lang, _FAILED)
        finally:
            upload.file.close()
    return errors


def keep_draft(request: Request, lang: str, form: FormData) -> Response:
    """Her checked form becomes a draft in a new session; she is sent to check it."""
    response = RedirectResponse(localised_url("/return/check", lang), status_code=303)
    key, found = start_draft(request, response, {"values": _stored(form), "lang": lang})
    errors = _keep_files(request, lang, key, form)
    if errors:  # her answers are kept; she chooses the refused file again (or not)
        found.flash = Flash(errors=errors)
        response.headers["location"] = localised_url("/return/change", lang)
    return response


# -- the pages --------------------------------------------------------------------------------

def _closed(request: Request, lang: str) -> HTMLResponse:
    return render(request, "victim/message.html", lang, heading=translate(lang, _CLOSED),
                  text=translate(lang, _CLOSED_TEXT))


def _draft(request: Request) -> tuple[ReturnSession, str, dict[str, Any]] | None:
    found = session_of(request)
    key = session_key(request)
    if found is None or key is None or found.draft is None or found.victim is not None:
        return None
    values = found.draft.get("values")
    return (found, key, dict(values)) if isinstance(values, dict) else None


def _chosen(lang: str, options: list[tuple[str, str]], picked: list[str]) -> str:
    return ", ".join(text for value, text in options if value in picked)


def _rows(lang: str, values: Mapping[str, Any],
          files: list[report_drafts.DraftFile]) -> list[tuple[str, str, str]]:
    """(question, answer, the field the Change link goes to), in the form's order."""
    def text(name: str) -> str:
        value = values.get(name, "")
        return value if isinstance(value, str) else ""

    modes = {value: translate(lang, title) for value, title, _hint in MODES}
    roles = {"victim": translate(lang, N_("Yes, it happened to me")),
             "witness": translate(lang, N_("No, I saw it happen (I am a witness)"))}
    crime = text("crime_type")
    crime_label = label(lang, CrimeType(crime)) if crime in set(CrimeType) else ""
    voice = [f for f in files if f.voice]
    narrative = text("narrative")
    if voice:
        recorded = translate(lang, N_("Your recorded answer (a sound file)"))
        narrative = f"{recorded}\n\n{narrative}" if narrative else recorded
    others = [f for f in files if not f.voice]
    nothing = translate(lang, N_("None"))
    safe = [value for value, _l in channels(lang) if values.get(f"safe_{value}") == "yes"]
    times = [(v, translate(lang, t)) for v, t in SAFE_TIME_LABELS]
    rows = [
        (translate(lang, N_("How do you want to report?")), modes.get(text("mode"), ""), "mode"),
        (translate(lang, N_("Are you the person this happened to?")),
         roles.get(text("subject_role") or "victim", ""), "subject_role"),
        (translate(lang, N_("What kind of crime was it?")), crime_label, "crime_type"),
        (translate(lang, N_("What happened?")), narrative, "narrative"),
        (translate(lang, N_("Files")),
         "\n".join(_file_line(lang, number, f) for number, f in enumerate(others, 1)) or nothing,
         "file"),
        (translate(lang, N_("When did it happen? (optional)")), text("occurred"), "occurred"),
        (translate(lang, N_("Where did it happen? (optional)")), text("location"), "location"),
    ]
    if text("mode") != "anonymous":
        rows += [
            (translate(lang, N_("Your name (only if you report with your name)")), text("name"),
             "name"),
            (translate(lang, N_("Phone number")), text("phone"), "phone"),
            (translate(lang, N_("Email address")), text("email"), "email"),
            (translate(lang, N_("Is it safe for us to…")),
             _chosen(lang, channels(lang), safe) or nothing, "safe_contact"),
            (translate(lang, N_("When may we send you a notice?")),
             _chosen(lang, times, list(values.get("safe_time", []))) or nothing, "safe_time"),
            (translate(lang, N_("Anything else about contacting you safely (optional)")),
             text("safe_contact_note"), "safe_contact_note"),
        ]
    rows.append((translate(lang, N_("Who may we share your report with?")),
                 _chosen(lang, consent_choices(lang), list(values.get("consent", [])))
                 or nothing, "consents"))
    return [(q, a, f) for q, a, f in rows if a]


def _file_line(lang: str, number: int, item: report_drafts.DraftFile) -> str:
    kinds = {"image": N_("Photo"), "PDF": N_("PDF"), "audio": N_("Sound"), "video": N_("Video")}
    kind = translate(lang, kinds.get(item.kind, N_("File")))
    size = max(1, item.size // 1024)
    return f"{number}. {kind} ({size} KB)"


def _shown(request: Request) -> tuple[str, str, dict[str, Any], Flash | None] | None:
    """For a GET of her draft: (key, language, answers, the flash shown once), or None."""
    held = _draft(request)
    if held is None:
        return None
    found, key, values = held
    flash, found.flash = found.flash, None
    return key, language_of(request), values, flash


@router.get("/return/check", response_class=HTMLResponse)
def check_answers(request: Request) -> HTMLResponse:
    shown = _shown(request)
    if shown is None:
        return _closed(request, language_of(request))
    key, lang, values, flash = shown
    files = report_drafts.files(request.app.state.instance, key)
    return render(request, "victim/check.html", lang, rows=_rows(lang, values, files),
                  notice=flash.notice if flash else "",
                  errors=flash.errors if flash else {})


@router.post("/return/check")
async def send_report(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=8)
    lang = language_of(request, form)
    held = _draft(request)
    token = form.get("csrf_token")
    try:
        verify_csrf(request, token if isinstance(token, str) else None)
    except CsrfError:
        return _closed(request, lang) if held is None else _back(lang, held[0], _FAILED)
    if held is None or not isinstance(token, str) or not spent_tokens(request).spend(token):
        return _closed(request, lang)  # sent already, or the page closed: nothing twice
    found, key, values = held
    from safereport.web.victim import submission_of

    # The report's language is the one she filled it in (a codename's words follow it).
    drafted = (found.draft or {}).get("lang")
    lang = drafted if isinstance(drafted, str) and drafted else lang
    instance = request.app.state.instance
    try:
        submission: ReportSubmission = submission_of(
            _as_form(values, lang), lang, spoken=spoken(FormData(),
                                                        report_drafts.files(instance, key)))
    except InvalidReport as exc:
        found.flash = Flash(errors=problem_messages(lang, exc.problems))
        return RedirectResponse(localised_url("/return/change", lang), status_code=303)
    try:
        receipt = report_drafts.send(instance, key, submission)
    except SafeReportError:
        return _back(lang, found, _FAILED)
    response = RedirectResponse(localised_url("/return/new", lang), status_code=303)
    start_session(request, response, None, card=Card(receipt.reference, receipt.codename))
    return response


def _back(lang: str, found: ReturnSession, notice: str) -> RedirectResponse:
    found.flash = Flash(notice=translate(lang, notice))
    return RedirectResponse(localised_url("/return/check", lang), status_code=303)


@router.get("/return/change", response_class=HTMLResponse)
def change_answers(request: Request) -> HTMLResponse:
    shown = _shown(request)
    if shown is None:
        return _closed(request, language_of(request))
    key, lang, values, flash = shown
    from safereport.web.victim import report_page

    return report_page(request, lang, values, flash.errors if flash else {},
                       status_code=400 if flash and flash.errors else 200,
                       draft_files=report_drafts.files(request.app.state.instance, key))


@router.post("/return/change", response_class=HTMLResponse)
def save_changes(request: Request) -> Response:
    held = _draft(request)
    if held is None:  # no draft: the body is never read
        return _closed(request, language_of(request))
    found, key, _old = held
    form = read_report_form(request)
    lang = language_of(request, form)
    from safereport.web.victim import report_page, submission_of, warnings_for

    instance = request.app.state.instance
    if form is None:
        mb = limits_of(instance.settings).largest // 2 ** 20
        found.flash = Flash(errors={"file": translate(lang, _TOO_BIG_FILE, mb=mb)})
        return RedirectResponse(localised_url("/return/change", lang), status_code=303)
    token = form.get("csrf_token")
    try:
        verify_csrf(request, token if isinstance(token, str) else None)
    except CsrfError:
        return _closed(request, lang)
    if not isinstance(token, str) or not spent_tokens(request).spend(token):
        return _closed(request, lang)
    for removed in form.getlist("remove"):
        if isinstance(removed, str):
            report_drafts.drop(instance, key, removed[:32])
    errors = _keep_files(request, lang, key, form)
    values = _stored(form)
    switched = switched_language(request, form)
    found.draft = {"values": values, "lang": switched or lang}
    if switched:  # another language: her changes kept, the form again in it
        return RedirectResponse(localised_url("/return/change", switched), status_code=303)
    files = report_drafts.files(instance, key)
    try:
        submission_of(form, lang, spoken=spoken(form, files))
    except InvalidReport as exc:
        errors = {**problem_messages(lang, exc.problems), **errors}
    if errors:
        return report_page(request, lang, values, errors, 400, draft_files=files)
    warnings = [] if values.get("warned") == "yes" else warnings_for(lang, form)
    if warnings:
        return report_page(request, lang, values, {}, 400, warnings=warnings, draft_files=files)
    return RedirectResponse(localised_url("/return/check", lang), status_code=303)
