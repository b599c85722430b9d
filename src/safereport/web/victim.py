"""The victim's pages: home, report, codename card, return page, claim, erasure.

Each route parses the form, calls one service, renders. Nothing here decides who may see what
(the services ask the guard), and nothing about the request (address, browser) reaches them.
Every page works without JavaScript; the only script is the quick exit's enhancement.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from safereport.domain.case import CaseStatus
from safereport.domain.codename import looks_like_codename, normalise_codename
from safereport.domain.fields import MAX_FIELD_CHARS
from safereport.domain.vocabulary import CrimeType, Purpose, Recipient
from safereport.errors import AccessDenied, InvalidInput, SafeReportError
from safereport.services import intake
from safereport.services import victim as service
from safereport.services.intake import ContactChannel, InvalidReport, Problem
from safereport.web.i18n import N_
from safereport.web.security import CsrfError, CsrfFailure, client_key, verify_csrf
from safereport.web.victim_support import (
    MAX_BODY_BYTES,
    MODES,
    channels,
    consent_choices,
    consent_label,
    format_when,
    issue_pass,
    label,
    language_of,
    open_pass,
    problem_messages,
    reasons,
    render,
    throttles,
    translate,
)

__all__ = ["router"]

log = logging.getLogger("safereport.web.victim")
router = APIRouter(include_in_schema=False)

_KEPT = N_("Nothing has been saved yet. What you typed is still here.")
_STALE = N_("This page was open for too long, so we could not send it. "
            "Please check it and send it again.")
_TOO_BIG = N_("This is too long to send. Please make it shorter.")
_TOO_MANY = N_("Too many tries. Please wait 15 minutes and try again.")
_WRONG_CODENAME = N_("We could not find a report with this codename. "
                     "Check the words and try again.")
_NOT_CODENAME = N_("That does not look like a codename. It should be the seven words "
                   "on your card.")
_EXPIRED = N_("This page was open for too long. Please type your codename again.")
_BAD_CLAIM = N_("This claim code is not valid. It may have been used already.")
_SAVED = N_("Your choice has been saved.")
_SENT = N_("Your message has been sent.")
_CANCELLED = N_("The deletion has been cancelled.")
_FAILED = N_("Something went wrong. Nothing was saved. Please try again.")
_MESSAGE_EMPTY = N_("Please write a message first.")
_MESSAGE_LONG = N_("This message is too long. Please make it shorter.")
_MESSAGES_UNAVAILABLE = N_("Your messages cannot be shown right now. Please try again later.")


# -- form reading ---------------------------------------------------------------------------

async def _read_form(request: Request) -> FormData | None:
    """The form, or None when the body is too big or unreadable (nothing is processed)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        return None
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return None
    return await request.form(max_files=0, max_fields=64)


def _csrf_problem(request: Request, form: FormData | None) -> CsrfFailure | None:
    token = form.get("csrf_token") if form is not None else None
    try:
        verify_csrf(request, token if isinstance(token, str) else None)
    except CsrfError as exc:
        return exc.failure
    return None


def _text(form: FormData | None, name: str) -> str:
    value = form.get(name) if form is not None else None
    return value if isinstance(value, str) else ""


# -- home -----------------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    lang = language_of(request)
    instance = request.app.state.instance
    guard = instance.guard if instance is not None else None
    return render(
        request, "victim/home.html", lang,
        regime=guard.regime if guard else "firewall",
        policy_hash=guard.policy_hash if guard else "",
        rules=guard.explain() if guard else [],
        cooling_off_hours=instance.settings.erasure_cooling_off_hours if instance else 72,
    )


# -- report ---------------------------------------------------------------------------------

def _report_page(request: Request, lang: str, values: Mapping[str, Any],
                 errors: Mapping[str, str], status_code: int = 200,
                 notice: str = "") -> HTMLResponse:
    return render(
        request, "victim/report_form.html", lang, status_code=status_code,
        values=values, errors=errors, notice=notice,
        kept=translate(lang, _KEPT) if errors or notice else "",
        modes=[(v, translate(lang, t), translate(lang, h)) for v, t, h in MODES],
        crime_types=[(c.value, label(lang, c)) for c in CrimeType],
        channels=channels(lang),
        consent_choices=consent_choices(lang),
        max_narrative=MAX_FIELD_CHARS,
    )


@router.get("/report", response_class=HTMLResponse)
def report_form(request: Request) -> HTMLResponse:
    return _report_page(request, language_of(request), {}, {})


def _form_values(form: FormData) -> dict[str, Any]:
    """What the person typed, to show again (plain strings only)."""
    values: dict[str, Any] = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    values["consent"] = [v for v in form.getlist("consent") if isinstance(v, str)]
    return values


def _submission_data(form: FormData, lang: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        name: form.get(name)
        for name in ("mode", "crime_type", "subject_role", "narrative", "occurred",
                     "location", "name", "phone", "email")
    }
    data["safe_contact"] = {
        **{c.value: form.get(f"safe_{c.value}") == "yes" for c in ContactChannel},
        "note": form.get("safe_contact_note"),
    }
    chosen = []
    for value in form.getlist("consent"):
        recipient, _, purpose = str(value).partition("/")
        chosen.append({"recipient": recipient, "purpose": purpose})
    data["consents"] = chosen
    data["language"] = lang
    return data


@router.post("/report", response_class=HTMLResponse)
async def report_submit(request: Request) -> HTMLResponse:
    form = await _read_form(request)
    lang = language_of(request, form)
    if form is None:
        return _report_page(request, lang, {}, {"narrative": translate(lang, _TOO_BIG)}, 413)
    values = _form_values(form)
    failure = _csrf_problem(request, form)
    if failure is not None:
        return _report_page(request, lang, values, {}, 400, translate(lang, _STALE))
    if not throttles(request).reports.hit(client_key(request, "report")):
        return _report_page(request, lang, values, {}, 429, translate(lang, _TOO_MANY))
    try:
        submission = intake.parse_submission(_submission_data(form, lang))
    except InvalidReport as exc:
        errors = problem_messages(lang, exc.problems)
        return _report_page(request, lang, values, errors, 400)
    try:
        receipt = intake.submit_report(request.app.state.instance, submission)
    except SafeReportError:
        log.exception("a report could not be saved")
        return _report_page(request, lang, values, {}, 500, translate(lang, _FAILED))
    heading = translate(lang, N_("Your report has been sent"))
    return render(request, "victim/report_done.html", lang, heading=heading,
                  reference=receipt.reference, codename=receipt.codename)


# -- return ---------------------------------------------------------------------------------

def _login_page(request: Request, lang: str, errors: Mapping[str, str],
                status_code: int = 200, notice: str = "",
                values: Mapping[str, str] | None = None) -> HTMLResponse:
    return render(request, "victim/return_login.html", lang, status_code=status_code,
                  errors=errors, notice=notice, values=values or {})


@router.get("/return", response_class=HTMLResponse)
def return_form(request: Request) -> HTMLResponse:
    return _login_page(request, language_of(request), {})


def _attempt_blocked(request: Request, scope: str) -> bool:
    """Locked out: this client failed too often. There is no refusal for everyone: failures
    from many addresses must not shut every victim out (issue 14); each try costs Argon2id."""
    limits = throttles(request)
    return limits.attempts.remaining(client_key(request, scope)) > 0


def _attempt_failed(request: Request, scope: str) -> None:
    limits = throttles(request)
    limits.attempts.failure(client_key(request, scope))
    limits.failures_everywhere.hit("all")


@router.post("/return", response_class=HTMLResponse)
async def return_open(request: Request) -> HTMLResponse:
    form = await _read_form(request)
    lang = language_of(request, form)
    typed = {"codename": _text(form, "codename")[:400]}
    if form is None:
        return _login_page(request, lang, {"codename": translate(lang, _TOO_BIG)}, 413)
    if _csrf_problem(request, form) is not None:
        return _login_page(request, lang, {"codename": translate(lang, _STALE)}, 400,
                           values=typed)
    if _attempt_blocked(request, "codename"):
        return _login_page(request, lang, {"codename": translate(lang, _TOO_MANY)}, 429)
    codename = normalise_codename(typed["codename"])
    if not looks_like_codename(codename):
        return _login_page(request, lang, {"codename": translate(lang, _NOT_CODENAME)}, 400,
                           values=typed)
    instance = request.app.state.instance
    session = service.open_by_codename(instance, codename)
    if session is None:
        _attempt_failed(request, "codename")
        return _login_page(request, lang, {"codename": translate(lang, _WRONG_CODENAME)}, 400,
                           values=typed)
    throttles(request).attempts.success(client_key(request, "codename"))
    service.complete_due_erasures(instance)
    return _return_page(request, lang, session)


def _return_page(request: Request, lang: str, session: service.VictimSession, *,
                 notice: str = "", errors: Mapping[str, str] | None = None,
                 values: Mapping[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    instance = request.app.state.instance
    overview = service.case_overview(instance, session)
    unavailable = ""
    try:
        messages = [] if overview.erased else service.messages(instance, session)
    except AccessDenied:
        # Already a denial on record; she is told calmly, not shown "No messages yet."
        messages = []
        unavailable = translate(lang, _MESSAGES_UNAVAILABLE)
    seen = [
        {
            "entry": entry,
            "org": label(lang, entry.actor_org_kind or "") if entry.actor_org_kind else "—",
            "role": label(lang, entry.actor_role),
            "action": label(lang, entry.action),
            "purpose": label(lang, entry.purpose),
            "effect": label(lang, entry.effect),
            "reasons": reasons(lang, entry.rules),
        }
        for entry in service.who_has_seen(instance, session)
    ]
    consents = [(c, consent_label(lang, c.recipient, c.purpose))
                for c in service.consent_states(instance, session)]
    return render(
        request, "victim/return_page.html", lang, status_code=status_code,
        case=overview, status_label=label(lang, CaseStatus(overview.status)),
        messages=messages, messages_unavailable=unavailable, seen=seen, consents=consents,
        notice=notice,
        errors=errors or {}, values=values or {}, return_pass=issue_pass(request, session),
        cooling_off_hours=instance.settings.erasure_cooling_off_hours,
        max_message=service.MAX_MESSAGE_CHARS,
    )


async def _session_form(
    request: Request,
) -> tuple[str, FormData | None, service.VictimSession | None, HTMLResponse | None]:
    """Form, language and session for an action on the return page, or the page to show."""
    form = await _read_form(request)
    lang = language_of(request, form)
    if form is None:
        return lang, None, None, _login_page(request, lang, {"codename": translate(lang, _TOO_BIG)},
                                             413)
    session = open_pass(request, form.get("pass"))
    if session is None:
        return lang, form, None, _login_page(request, lang, {}, 400,
                                             notice=translate(lang, _EXPIRED))
    if _csrf_problem(request, form) is not None:
        return lang, form, session, _return_page(request, lang, session,
                                                 notice=translate(lang, _STALE), status_code=400)
    return lang, form, session, None


@router.post("/return/view", response_class=HTMLResponse)
async def return_view(request: Request) -> HTMLResponse:
    lang, _form, session, early = await _session_form(request)
    if early is not None or session is None:
        return early or _login_page(request, lang, {})
    return _return_page(request, lang, session)


@router.post("/return/message", response_class=HTMLResponse)
async def return_message(request: Request) -> HTMLResponse:
    lang, form, session, early = await _session_form(request)
    if early is not None or session is None:
        return early or _login_page(request, lang, {})
    text = _text(form, "message")
    if not text.strip() or len(text) > service.MAX_MESSAGE_CHARS:
        problem = _MESSAGE_EMPTY if not text.strip() else _MESSAGE_LONG
        return _return_page(request, lang, session, errors={"message": translate(lang, problem)},
                            values={"message": text}, status_code=400)
    if "\ufffd" in text:
        message = problem_messages(lang, {"message": Problem.UNREADABLE})
        return _return_page(request, lang, session, errors=message, values={"message": text},
                            status_code=400)
    service.send_message(request.app.state.instance, session, text)
    return _return_page(request, lang, session, notice=translate(lang, _SENT))


@router.post("/return/consent", response_class=HTMLResponse)
async def return_consent(request: Request) -> HTMLResponse:
    lang, form, session, early = await _session_form(request)
    if early is not None or session is None:
        return early or _login_page(request, lang, {})
    recipient, _, purpose = _text(form, "consent").partition("/")
    try:
        service.set_consent(request.app.state.instance, session, Recipient(recipient),
                            Purpose(purpose), give=_text(form, "give") == "yes")
    except (ValueError, InvalidInput):
        return _return_page(request, lang, session, status_code=400,
                            errors=problem_messages(lang, {"consents": Problem.INVALID_CHOICE}))
    return _return_page(request, lang, session, notice=translate(lang, _SAVED))


@router.post("/return/receipt")
async def return_receipt(request: Request) -> Response:
    lang, form, session, early = await _session_form(request)
    if early is not None or session is None:
        return early or _login_page(request, lang, {})
    index = _text(form, "index")
    if not index.isdigit():
        return _return_page(request, lang, session, status_code=400)
    try:
        found = service.receipt(request.app.state.instance, session, int(index))
    except (AccessDenied, SafeReportError):
        return _return_page(request, lang, session, status_code=404)
    return Response(
        found.text, media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{found.filename}"'},
    )


@router.post("/return/erase", response_class=HTMLResponse)
async def return_erase(request: Request) -> HTMLResponse:
    lang, form, session, early = await _session_form(request)
    if early is not None or session is None:
        return early or _login_page(request, lang, {})
    instance = request.app.state.instance
    if _text(form, "confirm") != "yes":
        return render(request, "victim/erase_confirm.html", lang,
                      return_pass=issue_pass(request, session),
                      cooling_off_hours=instance.settings.erasure_cooling_off_hours)
    try:
        due = service.request_erasure(instance, session)
    except SafeReportError:
        # Refused (and on record) or no longer pending: her page again, not a 500.
        return _return_page(request, lang, session, notice=translate(lang, _FAILED),
                            status_code=409)
    notice = translate(lang, N_("Your report will be deleted on %(date)s. You can still "
                                "cancel until then."), date=format_when(lang, due))
    return _return_page(request, lang, session, notice=notice)


@router.post("/return/erase/cancel", response_class=HTMLResponse)
async def return_erase_cancel(request: Request) -> HTMLResponse:
    lang, _form, session, early = await _session_form(request)
    if early is not None or session is None:
        return early or _login_page(request, lang, {})
    service.cancel_erasure(request.app.state.instance, session)
    return _return_page(request, lang, session, notice=translate(lang, _CANCELLED))


# -- claim ----------------------------------------------------------------------------------

def _claim_page(request: Request, lang: str, errors: Mapping[str, str], status_code: int = 200,
                values: Mapping[str, str] | None = None) -> HTMLResponse:
    return render(request, "victim/claim_form.html", lang, status_code=status_code,
                  errors=errors, values=values or {})


@router.get("/claim", response_class=HTMLResponse)
def claim_form(request: Request) -> HTMLResponse:
    return _claim_page(request, language_of(request), {})


@router.post("/claim", response_class=HTMLResponse)
async def claim_submit(request: Request) -> HTMLResponse:
    form = await _read_form(request)
    lang = language_of(request, form)
    typed = {"claim_code": _text(form, "claim_code")[:100]}
    if form is None:
        return _claim_page(request, lang, {"claim_code": translate(lang, _TOO_BIG)}, 413)
    if _csrf_problem(request, form) is not None:
        return _claim_page(request, lang, {"claim_code": translate(lang, _STALE)}, 400, typed)
    if _attempt_blocked(request, "claim"):
        return _claim_page(request, lang, {"claim_code": translate(lang, _TOO_MANY)}, 429)
    try:
        result = service.claim_case(request.app.state.instance, typed["claim_code"])
    except InvalidInput:
        _attempt_failed(request, "claim")
        return _claim_page(request, lang, {"claim_code": translate(lang, _BAD_CLAIM)}, 400, typed)
    heading = translate(lang, N_("The report is now yours"))
    return render(request, "victim/report_done.html", lang, heading=heading,
                  reference=result.reference, codename=result.codename)
