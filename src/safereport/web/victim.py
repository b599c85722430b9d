"""The victim's pages: home, report, codename card, return page, claim, erasure, quick exit.

Each route parses the form, calls one service, renders. Nothing here decides who may see what
(the services ask the guard), and nothing about the request (address, browser) reaches them.
Every page works without JavaScript; the only script is the quick exit's enhancement.

History is harmless (see :mod:`safereport.web.victim_session`): every POST that changes
something spends its form token and answers with a redirect to a GET page; the return pages
find her case through :func:`current_return_session`, never through anything in a URL or a
form, and a page revisited after the session ended says only that it has closed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from safereport.domain.case import CaseStatus
from safereport.domain.codename import looks_like_codename, normalise_codename
from safereport.domain.fields import MAX_FIELD_CHARS, CaseField
from safereport.domain.vocabulary import CrimeType, Purpose, Recipient
from safereport.errors import AccessDenied, InvalidInput, SafeReportError
from safereport.services import claim, erasure, intake, replies
from safereport.services import victim as service
from safereport.services.intake import ContactChannel, InvalidReport, Problem
from safereport.web import victim_bots as bots
from safereport.web.i18n import N_
from safereport.web.security import CsrfError, CsrfFailure, client_key, verify_csrf
from safereport.web.victim_check import (
    SAFE_TIME_LABELS,
    keep_draft,
    read_report_form,
    spoken,
    too_big,
)
from safereport.web.victim_police import police_law
from safereport.web.victim_seen import seen_groups
from safereport.web.victim_session import (
    COOKIE,
    SESSION_TTL_SECONDS,
    Card,
    Flash,
    ReturnSession,
    end_session,
    session_of,
    spent_tokens,
    start_session,
)
from safereport.web.victim_support import (
    MAX_BODY_BYTES,
    MODES,
    channels,
    consent_choices,
    consent_label,
    exit_url,
    format_when,
    label,
    language_of,
    localised_url,
    problem_messages,
    render,
    switched_language,
    throttles,
    translate,
)

__all__ = ["current_return_session", "install_not_found", "router"]

log = logging.getLogger("safereport.web.victim")
router = APIRouter(include_in_schema=False)

_KEPT = N_("Nothing has been saved yet. What you typed is still here.")
_STALE = N_("This page was open for too long, so we could not send it. For your safety, "
            "what you typed was not kept. Please write it again.")
_TOO_BIG = N_("This is too long to send. Please make it shorter.")
_TOO_MANY = N_("Too many tries. Please wait 15 minutes and try again.")
_WRONG_CODENAME = N_("We could not find a report with this codename. "
                     "Check the words and try again.")
_NOT_CODENAME = N_("That does not look like a codename. It should be the words or the "
                   "numbers on your card.")
_CLOSED = N_("This page has closed. Type your codename again.")
_BAD_CLAIM = N_("This claim code is not valid. It may have been used already.")
_NO_CLAIM = N_("Type your claim code.")
_CLOSED_UNSENT = N_("This page closed after %(minutes)s minutes, so what you just sent did not "
                    "reach us. Type your codename again, then send it again.")
_SAVED = N_("Your choice has been saved.")
_SENT = N_("Your message has been sent.")
_CANCELLED = N_("The deletion has been cancelled.")
_FAILED = N_("Something went wrong. Nothing was saved. Please try again.")
_MESSAGE_EMPTY = N_("Please write a message first.")
_MESSAGE_LONG = N_("This message is too long. Please make it shorter.")
_FILES_AGAIN = N_("The files you chose were not kept. Choose them again before you send "
                  "your report.")
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


def _first_use(request: Request, form: FormData) -> bool:
    """Spend the form's (already verified) token: False when this POST is a replay."""
    token = form.get("csrf_token")
    return isinstance(token, str) and spent_tokens(request).spend(token)


def _see_other(path: str, lang: str) -> RedirectResponse:
    return RedirectResponse(localised_url(path, lang), status_code=303)


def _closed_page(request: Request, lang: str) -> HTMLResponse:
    """What a replayed form or a revisited page shows: nothing of her case, nothing typed."""
    return render(request, "victim/message.html", lang,
                  heading=translate(lang, N_("This page has closed")),
                  text=translate(lang, N_("For your safety it cannot be shown again. Nothing "
                                          "was sent twice.")))


def _replayed_report(request: Request, form: FormData, lang: str,
                     verdict: bots.Verdict) -> HTMLResponse:
    """The report form sent again with a spent token: Back and Reload, or a script replaying it.

    It shows nothing, ever: on a shared computer this may be someone else re-sending her form,
    so no card, no codename, nothing she typed (the page has closed, and nothing reaches the
    case list twice). But a complete report in it is not dropped (issue 19): it is kept in
    quarantine, where a caseworker can release it if it was her report sent again, perhaps
    changed, rather than a script's.
    """
    closed = _closed_page(request, lang)
    if verdict.stop in (bots.Stop.LIMITED, bots.Stop.WAIT) or _text(form, "show_force") == "yes":
        return closed  # over the limits (counted), or only asking what a force said
    try:
        submission = submission_of(form, lang, spoken=spoken(form))
        intake.submit_report(request.app.state.instance, submission, suspicion=(
            "honeypot" if verdict.stop is bots.Stop.CAUGHT else "form_sent_twice"))
    except InvalidReport:
        pass  # nothing complete to keep
    except SafeReportError:
        log.exception("a report sent twice could not be kept in quarantine")
    return closed


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


@router.get("/safety", response_class=HTMLResponse)
def cover_your_tracks(request: Request) -> HTMLResponse:
    return render(request, "victim/safety.html", language_of(request))


def install_not_found(app: FastAPI) -> None:
    """Answer a 404 outside the staff, API and static paths with a victim page in her language.

    Every other HTTP error, and a 404 on those paths, keeps FastAPI's own answer.
    """

    async def not_found(request: Request, exc: Exception) -> Response:
        path = request.url.path
        if (not isinstance(exc, StarletteHTTPException) or exc.status_code != 404
                or path.startswith(_NOT_VICTIM_PATHS)):
            return await http_exception_handler(request, exc)  # type: ignore[arg-type]
        lang = language_of(request)
        return render(request, "victim/message.html", lang, status_code=404, page_path="/",
                      heading=translate(lang, N_("This page does not exist")),
                      text=translate(lang, N_("Check the address, or go back to the start.")))

    app.add_exception_handler(StarletteHTTPException, not_found)


_NOT_VICTIM_PATHS = ("/staff", "/api", "/static", "/log", "/auditor")


# -- report ---------------------------------------------------------------------------------

def _report_page(request: Request, lang: str, values: Mapping[str, Any],
                 errors: Mapping[str, str], status_code: int = 200,
                 notice: str = "", warnings: Sequence[str] = (),
                 draft_files: Sequence[Any] | None = None) -> HTMLResponse:
    """The report form; with ``draft_files`` (a list, maybe empty) it is her draft being
    changed before she sends it (``/return/change``, :mod:`safereport.web.victim_check`)."""
    force = values.get("force")
    return render(
        request, "victim/report_form.html", lang, status_code=status_code, lang_form="answers",
        values=values, errors=errors, notice=notice, warnings=warnings,
        kept=translate(lang, _KEPT) if errors or warnings or (notice and values) else "",
        modes=[(v, translate(lang, t), translate(lang, h)) for v, t, h in MODES],
        crime_types=[(c.value, label(lang, c)) for c in _crime_types_in_order()],
        channels=channels(lang),
        consent_choices=consent_choices(lang),
        max_narrative=MAX_FIELD_CHARS,
        changing=draft_files is not None, draft_files=draft_files or [],
        safe_times=[(v, translate(lang, t)) for v, t in SAFE_TIME_LABELS],
        police=police_law(lang, _engine(request), force if isinstance(force, str) else ""),
    )


def _engine(request: Request) -> Any:
    instance = request.app.state.instance
    return instance.engine if instance is not None else None


def _warnings(lang: str, form: FormData) -> list[str]:
    """What she may not have meant: asked once, then she can send it as it is."""
    mode = _text(form, "mode")
    typed_contact = any(_text(form, name).strip() for name in ("name", "phone", "email"))
    if mode == "anonymous" and typed_contact:
        return [translate(lang, N_(
            "You chose “Without my name”, so we will not keep the name, phone number or email "
            "you typed, and we cannot contact you. If you want us to contact you, choose "
            "“With a codename” or “With my name”."))]
    if mode == "identified" and not _text(form, "name").strip():
        return [translate(lang, N_(
            "You chose “With my name” but did not write your name. Write it, or choose "
            "“Without my name” or “With a codename”."))]
    return []


def _crime_types_in_order() -> list[CrimeType]:
    # "Something else" last, whatever the codes' alphabetical order.
    return sorted(CrimeType, key=lambda c: c is CrimeType.OTHER)


@router.get("/report", response_class=HTMLResponse)
def report_form(request: Request) -> HTMLResponse:
    return _report_page(request, language_of(request), {}, {})


@router.get("/report/police", response_class=HTMLResponse)
def report_police(request: Request) -> HTMLResponse:
    """What one police force said, alone: fetched into the report form by police-law.js, so
    nothing of her report is sent (the force is in the query of a fetch, not in her history)."""
    lang = language_of(request)
    return render(request, "victim/_police_said.html", lang,
                  police=police_law(lang, _engine(request), request.query_params.get("force", "")))


def _form_values(form: FormData) -> dict[str, Any]:
    """What the person typed, to show again (plain strings only)."""
    values: dict[str, Any] = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    for name in ("consent", "safe_time"):
        values[name] = [v for v in form.getlist(name) if isinstance(v, str)]
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
        "times": [t for t in form.getlist("safe_time") if isinstance(t, str)],
    }
    chosen = []
    for value in form.getlist("consent"):
        recipient, _, purpose = str(value).partition("/")
        chosen.append({"recipient": recipient, "purpose": purpose})
    data["consents"] = chosen
    data["language"] = lang
    return data


def submission_of(form: FormData, lang: str, *, spoken: bool = False) -> intake.ReportSubmission:
    """The report form's answers, checked (raises :class:`InvalidReport`)."""
    return intake.parse_submission(_submission_data(form, lang), spoken=spoken)


#: For :mod:`safereport.web.victim_check` (her draft, changed before she sends it).
report_page = _report_page
warnings_for = _warnings


@router.post("/report", response_class=HTMLResponse)
def report_submit(request: Request) -> Response:
    # A plain def: the multipart form (her files) is spooled to disk as it arrives, never
    # read whole into memory (web.victim_check.read_report_form).
    form = read_report_form(request)
    lang = language_of(request, form)
    if form is None:
        # A file past the limit says so at the file; a text body too long at the text.
        return _report_page(request, lang, {}, too_big(request, lang)
                            or {"narrative": translate(lang, _TOO_BIG)}, 413)
    if _csrf_problem(request, form) is not None:
        # Never what she typed: this may be the browser re-sending an old form to someone else.
        return _report_page(request, lang, {}, {}, 400, translate(lang, _STALE))
    # A form sent twice (a replay) still meets the limits below, then shows nothing and is
    # kept in quarantine (issue 19: _replayed_report).
    replayed = not _first_use(request, form)
    values = _form_values(form)
    switched = switched_language(request, form)
    if _text(form, "show_force") or switched:  # show_force: the input's label
        # She asked what a police force said, or for another language: nothing is sent, her
        # form comes back as it was, in her language (once: replayed by Back and Reload, it
        # echoes nothing).
        lang = switched or lang
        if replayed:
            return _closed_page(request, lang)
        dropped = any(getattr(v, "filename", None) for _k, v in form.multi_items())
        return _report_page(request, lang, values, {},
                            notice=translate(lang, _FILES_AGAIN) if dropped else "")
    verdict = bots.check(request, form, "report")
    if replayed:
        return _replayed_report(request, form, lang, verdict)
    if verdict.stop in (bots.Stop.LIMITED, bots.Stop.WAIT):
        return _report_page(request, lang, values, {}, 429, bots.message(lang, verdict))
    # A script's signs (the honeypot filled, a solved puzzle reused) keep the report out of
    # the case list, never out of the database: it is held in quarantine for a caseworker,
    # and the answer is the ordinary one (a person gets her card).
    suspicion = ("honeypot" if verdict.stop is bots.Stop.CAUGHT
                 else "challenge_reused" if verdict.stop is bots.Stop.SUSPECT else None)
    if not throttles(request).reports.hit(client_key(request, "report")):
        return _report_page(request, lang, values, {}, 429, translate(lang, _TOO_MANY))
    try:
        submission = submission_of(form, lang, spoken=spoken(form))
    except InvalidReport as exc:
        errors = problem_messages(lang, exc.problems)
        return _report_page(request, lang, values, errors, 400)
    warnings = [] if _text(form, "warned") == "yes" else _warnings(lang, form)
    if warnings:
        return _report_page(request, lang, values, {}, 400, warnings=warnings)
    if suspicion is None:
        # Nothing is sent yet: her answers and files wait, sealed, while she checks them.
        return keep_draft(request, lang, form)
    try:
        receipt = intake.submit_report(request.app.state.instance, submission,
                                       suspicion=suspicion)
    except SafeReportError:
        log.exception("a report could not be saved")
        return _report_page(request, lang, values, {}, 500, translate(lang, _FAILED))
    response = _see_other("/return/new", lang)
    start_session(request, response, None,
                  card=Card(receipt.reference, receipt.codename))
    return response


@router.get("/return/new", response_class=HTMLResponse)
def report_done(request: Request) -> HTMLResponse:
    """The card after a report or a claim: shown once, then this page has closed."""
    lang = language_of(request)
    found = session_of(request)
    if found is None or found.card is None:
        return _closed_page(request, lang)
    card, found.card = found.card, None
    heading = N_("The report is now yours") if card.claimed else N_("Your report has been sent")
    response = render(request, "victim/report_done.html", lang,
                      heading=translate(lang, heading), reference=card.reference,
                      codename=card.codename, page_path="/",
                      reply=replies.for_reference(request.app.state.instance, card.reference))
    if found.victim is None:
        end_session(request, response)
    return response


# -- return ---------------------------------------------------------------------------------

def current_return_session(request: Request) -> service.VictimSession | None:
    """Her return session for this request (from the session cookie), or None.

    The one way a route learns whose case it serves; pass the result to the services in
    :mod:`safereport.services.victim`. A route that changes something should also spend the
    form's token (:func:`_action`) and answer with a redirect.
    """
    found = session_of(request)
    return found.victim if found is not None else None


def _login_page(request: Request, lang: str, errors: Mapping[str, str],
                status_code: int = 200, notice: str = "") -> HTMLResponse:
    # The codename is never put back into the page, not even a mistyped one.
    return render(request, "victim/return_login.html", lang, status_code=status_code,
                  errors=errors, notice=notice, values={})


@router.get("/return", response_class=HTMLResponse)
def return_page(request: Request) -> HTMLResponse:
    lang = language_of(request)
    found = session_of(request)
    if found is None or found.victim is None:
        had_one = request.cookies.get(COOKIE) is not None
        notice = ""
        if had_one and request.query_params.get("unsent"):  # she acted after it closed
            notice = translate(lang, _CLOSED_UNSENT, minutes=SESSION_TTL_SECONDS // 60)
        elif had_one:
            notice = translate(lang, _CLOSED)
        response = _login_page(request, lang, {}, notice=notice)
        if had_one:
            end_session(request, response)
        return response
    flash, found.flash = found.flash, None
    try:
        return _return_page(request, lang, found.victim, flash or Flash())
    except AccessDenied:
        # The door moved or the case is gone (the refusal is on record): closed, calmly.
        response = _login_page(request, lang, {}, notice=translate(lang, _CLOSED))
        end_session(request, response)
        return response


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
async def return_open(request: Request) -> Response:
    form = await _read_form(request)
    lang = language_of(request, form)
    if form is None:
        return _login_page(request, lang, {"codename": translate(lang, _TOO_BIG)}, 413)
    if _csrf_problem(request, form) is not None:
        return _login_page(request, lang, {"codename": translate(lang, _STALE)}, 400)
    if not _first_use(request, form):
        return _closed_page(request, lang)
    if _attempt_blocked(request, "codename"):
        return _login_page(request, lang, {"codename": translate(lang, _TOO_MANY)}, 429)
    verdict = bots.check(request, form, "return")
    if verdict.stop is bots.Stop.CAUGHT:  # answered as a wrong codename, and counted as one
        _attempt_failed(request, "codename")
        return _login_page(request, lang, {"codename": translate(lang, _WRONG_CODENAME)}, 400)
    if verdict.stop is not None:
        return _login_page(request, lang, {"codename": bots.message(lang, verdict)}, 429)
    codename = normalise_codename(_text(form, "codename")[:400])
    if not looks_like_codename(codename):
        return _login_page(request, lang, {"codename": translate(lang, _NOT_CODENAME)}, 400)
    instance = request.app.state.instance
    session = service.open_by_codename(instance, codename)
    if session is None:
        _attempt_failed(request, "codename")
        return _login_page(request, lang, {"codename": translate(lang, _WRONG_CODENAME)}, 400)
    throttles(request).attempts.success(client_key(request, "codename"))
    erasure.complete_due_erasures(instance)
    response = _see_other("/return", lang)
    start_session(request, response, session)
    return response


def _return_page(request: Request, lang: str, session: service.VictimSession,
                 flash: Flash) -> HTMLResponse:
    instance = request.app.state.instance
    overview = service.case_overview(instance, session)
    unavailable = ""
    try:
        messages = [] if overview.erased else service.messages(instance, session)
    except AccessDenied:
        # Already a denial on record; she is told calmly, not shown "No messages yet."
        messages = []
        unavailable = translate(lang, _MESSAGES_UNAVAILABLE)
    consents = [(c, consent_label(lang, c.recipient, c.purpose))
                for c in service.consent_states(instance, session)]
    page = request.query_params.get("seen_page", "1")
    seen = seen_groups(lang, service.who_has_seen(instance, session),
                       page=int(page) if page.isdigit() else 1)
    return render(
        request, "victim/return_page.html", lang,
        lang_form="" if overview.erased else "message-form",
        case=overview, status_label=label(lang, CaseStatus(overview.status)),
        messages=messages, messages_unavailable=unavailable, seen=seen, consents=consents,
        notice=flash.notice, errors=flash.errors, values=flash.values,
        cooling_off_hours=instance.settings.erasure_cooling_off_hours,
        max_message=service.MAX_MESSAGE_CHARS,
        my_requests=[(r, consent_label(lang, r.recipient, r.purpose))
                     for r in service.my_requests(instance, session)],
        reply=replies.for_session(instance, session.case_id, session.subject_id),
    )


async def _action(
    request: Request, *, spend: bool = True,
) -> tuple[str, FormData, ReturnSession, service.VictimSession] | RedirectResponse:
    """Form, language and session for an action on the return page, or the redirect to answer.

    No session: back to ``/return`` (which says the page has closed). A stale token: a notice
    and back. A replay (the token was spent already): straight back, nothing done again.
    """
    form = await _read_form(request)
    lang = language_of(request, form)
    back = _see_other("/return", lang)
    found = session_of(request)
    if found is None or found.victim is None:
        if request.cookies.get(COOKIE) is not None:  # her page closed while she was on it
            path = localised_url("/return", lang)
            return RedirectResponse(f"{path}{'&' if '?' in path else '?'}unsent=1", 303)
        return back
    if form is None:
        found.flash = Flash(notice=translate(lang, _TOO_BIG))
        return back
    if _csrf_problem(request, form) is not None:
        found.flash = Flash(notice=translate(lang, _STALE))
        return back
    if spend and not _first_use(request, form):
        return back
    return lang, form, found, found.victim


@router.post("/return/message")
async def return_message(request: Request) -> Response:
    acted = await _action(request)
    if isinstance(acted, RedirectResponse):
        return acted
    lang, form, found, session = acted
    text = _text(form, "message")
    switched = switched_language(request, form)
    if switched:  # another language: nothing sent, what she wrote comes back in it
        found.flash = Flash(values={"message": text})
        return _see_other("/return", switched)
    problem: str | None = None
    if not text.strip():
        problem = translate(lang, _MESSAGE_EMPTY)
    elif len(text) > service.MAX_MESSAGE_CHARS:
        problem = translate(lang, _MESSAGE_LONG)
    elif "\ufffd" in text:
        problem = problem_messages(lang, {"message": Problem.UNREADABLE})["message"]
    if problem is not None:
        found.flash = Flash(errors={"message": problem}, values={"message": text})
        return _see_other("/return", lang)
    try:
        service.send_message(request.app.state.instance, session, text)
    except SafeReportError:
        found.flash = Flash(notice=translate(lang, _FAILED), values={"message": text})
    else:
        found.flash = Flash(notice=translate(lang, _SENT))
    return _see_other("/return", lang)


@router.post("/return/consent/choose")
async def return_consent_choose(request: Request) -> Response:
    """Her "Change…" on a consent (and, without JavaScript, the police force she asks about):
    kept in her session, and she goes to ``/return/consent``, an address that says nothing of
    to whom (her history is what an abuser reads first)."""
    acted = await _action(request)
    if isinstance(acted, RedirectResponse):
        return acted
    lang, form, found, session = acted
    choice = _text(form, "choice")
    states = service.consent_states(request.app.state.instance, session)
    if not any(f"{c.recipient.value}/{c.purpose.value}" == choice for c in states):
        return _see_other("/return", lang)
    found.choosing = choice
    force = _text(form, "force")
    if force:  # shown once on the page, never kept
        found.flash = Flash(values={"force": force[:80]})
    return _see_other("/return/consent", lang)


@router.get("/return/consent", response_class=HTMLResponse)
def return_consent_confirm(request: Request) -> Response:
    """Say what a consent change means, and what was already sent, before she makes it."""
    lang = language_of(request)
    held = session_of(request)
    session = held.victim if held is not None else None
    if held is None or session is None:
        return _see_other("/return", lang)
    # Chosen on her page (kept in her session); an address with ?choice= still works.
    choice = request.query_params.get("choice", "") or held.choosing
    force = request.query_params.get("force", "")
    if held.flash is not None and "force" in held.flash.values:  # the force she asked about
        force, held.flash = force or held.flash.values["force"], None
    states = service.consent_states(request.app.state.instance, session)
    found = [c for c in states if f"{c.recipient.value}/{c.purpose.value}" == choice]
    if not found:
        return _see_other("/return", lang)
    consent = found[0]
    police = None
    if consent.recipient is Recipient.POLICE:
        # Sharing with the police is reporting to them too: what the law lets them do, and
        # what her force said (a force chosen here is only shown, never kept).
        police = police_law(lang, _engine(request), force)
    return render(request, "victim/consent_confirm.html", lang, consent=consent,
                  label=consent_label(lang, consent.recipient, consent.purpose), police=police)


@router.post("/return/consent")
async def return_consent(request: Request) -> Response:
    acted = await _action(request)
    if isinstance(acted, RedirectResponse):
        return acted
    lang, form, found, session = acted
    recipient, _, purpose = _text(form, "consent").partition("/")
    try:
        service.set_consent(request.app.state.instance, session, Recipient(recipient),
                            Purpose(purpose), give=_text(form, "give") == "yes")
    except (ValueError, InvalidInput):
        found.flash = Flash(errors=problem_messages(lang, {"consents": Problem.INVALID_CHOICE}))
    except SafeReportError:
        found.flash = Flash(notice=translate(lang, _FAILED))
    else:
        found.flash = Flash(notice=translate(lang, _SAVED))
    found.choosing = ""
    return _see_other("/return", lang)


@router.post("/return/record")
async def return_record(request: Request) -> Response:
    """Her whole record of "who has seen my data": one file, every entry with its proof."""
    acted = await _action(request, spend=False)  # a download changes nothing
    if isinstance(acted, RedirectResponse):
        return acted
    lang, _form, found, session = acted
    try:
        found_record = service.record(request.app.state.instance, session)
    except SafeReportError:
        found.flash = Flash(notice=translate(lang, _FAILED))
        return _see_other("/return", lang)
    return Response(
        found_record.data, media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{found_record.filename}"'},
    )


#: What her own record shows, in this order (risk scores and contact rules are the service's
#: working notes, not facts about her, and are not shown here).
_RECORD_FIELDS: tuple[tuple[CaseField, str], ...] = (
    (CaseField.NARRATIVE, N_("What happened")),
    (CaseField.OCCURRED, N_("When")),
    (CaseField.LOCATION, N_("Where")),
    (CaseField.NAME, N_("Your name")),
    (CaseField.DATE_OF_BIRTH, N_("Date of birth")),
    (CaseField.ADDRESS, N_("Address")),
    (CaseField.PHONE, N_("Phone number")),
    (CaseField.EMAIL, N_("Email address")),
    (CaseField.HEALTH_NEEDS, N_("Health needs")),
    (CaseField.NATIONALITY, N_("Nationality")),
    (CaseField.IMMIGRATION_STATUS, N_("Immigration status")),
)


@router.get("/return/mine", response_class=HTMLResponse)
def return_my_record(request: Request) -> Response:
    """Her own record (C-self): what the case holds about her, in her language's labels."""
    lang = language_of(request)
    found = session_of(request)
    if found is None or found.victim is None:
        return _see_other("/return", lang)
    try:
        values = service.my_record(request.app.state.instance, found.victim)
    except SafeReportError:
        found.flash = Flash(notice=translate(lang, _FAILED))
        return _see_other("/return", lang)
    fields = [(translate(lang, text), values[name]) for name, text in _RECORD_FIELDS
              if values.get(name)]
    return render(request, "victim/my_record.html", lang, fields=fields)


@router.get("/return/erase", response_class=HTMLResponse)
def return_erase_confirm(request: Request) -> Response:
    lang = language_of(request)
    if current_return_session(request) is None:
        return _see_other("/return", lang)
    instance = request.app.state.instance
    return render(request, "victim/erase_confirm.html", lang,
                  cooling_off_hours=instance.settings.erasure_cooling_off_hours)


@router.post("/return/erase")
async def return_erase(request: Request) -> Response:
    acted = await _action(request)
    if isinstance(acted, RedirectResponse):
        return acted
    lang, _form, found, session = acted
    try:
        due = erasure.request_erasure(request.app.state.instance, session)
    except SafeReportError:
        # Refused (and on record) or no longer pending: her page again, not a 500.
        found.flash = Flash(notice=translate(lang, _FAILED))
    else:
        found.flash = Flash(notice=translate(
            lang, N_("Your report will be deleted on %(date)s. You can still cancel until then."),
            date=format_when(lang, due)))
    return _see_other("/return", lang)


@router.post("/return/erase/cancel")
async def return_erase_cancel(request: Request) -> Response:
    acted = await _action(request)
    if isinstance(acted, RedirectResponse):
        return acted
    lang, _form, found, session = acted
    try:
        erasure.cancel_erasure(request.app.state.instance, session)
    except SafeReportError:
        found.flash = Flash(notice=translate(lang, _FAILED))
    else:
        found.flash = Flash(notice=translate(lang, _CANCELLED))
    return _see_other("/return", lang)


# -- the quick exit -------------------------------------------------------------------------

@router.get("/return/exit")
def quick_exit(request: Request) -> Response:
    """End her session on the server and in the browser, then leave for the neutral site.

    ``Clear-Site-Data`` names cookies and storage, not the cache: every page here is
    ``no-store`` already, and clearing Chromium's cache can hold the exit up for seconds.
    """
    response = RedirectResponse(exit_url(request), status_code=303)
    end_session(request, response)
    response.headers["Clear-Site-Data"] = '"cookies", "storage"'
    return response


# -- claim ----------------------------------------------------------------------------------

def _claim_page(request: Request, lang: str, errors: Mapping[str, str],
                status_code: int = 200) -> HTMLResponse:
    # A claim code is a secret too: it is never put back into the page.
    return render(request, "victim/claim_form.html", lang, status_code=status_code,
                  errors=errors, values={})


@router.get("/claim", response_class=HTMLResponse)
def claim_form(request: Request) -> HTMLResponse:
    return _claim_page(request, language_of(request), {})


@router.post("/claim", response_class=HTMLResponse)
async def claim_submit(request: Request) -> Response:
    form = await _read_form(request)
    lang = language_of(request, form)
    if form is None:
        return _claim_page(request, lang, {"claim_code": translate(lang, _TOO_BIG)}, 413)
    if _csrf_problem(request, form) is not None:
        return _claim_page(request, lang, {"claim_code": translate(lang, _STALE)}, 400)
    if not _first_use(request, form):
        return _closed_page(request, lang)
    if not _text(form, "claim_code").strip():  # nothing typed: not a wrong code, not a try
        return _claim_page(request, lang, {"claim_code": translate(lang, _NO_CLAIM)}, 400)
    if _attempt_blocked(request, "claim"):
        return _claim_page(request, lang, {"claim_code": translate(lang, _TOO_MANY)}, 429)
    verdict = bots.check(request, form, "claim")
    if verdict.stop is bots.Stop.CAUGHT:  # answered as a wrong claim code, and counted as one
        _attempt_failed(request, "claim")
        return _claim_page(request, lang, {"claim_code": translate(lang, _BAD_CLAIM)}, 400)
    if verdict.stop is not None:
        return _claim_page(request, lang, {"claim_code": bots.message(lang, verdict)}, 429)
    try:
        result = claim.claim_case(request.app.state.instance,
                                  _text(form, "claim_code")[:100], language=lang)
    except InvalidInput:
        _attempt_failed(request, "claim")
        return _claim_page(request, lang, {"claim_code": translate(lang, _BAD_CLAIM)}, 400)
    response = _see_other("/return/new", lang)
    start_session(request, response, None,
                  card=Card(result.reference, result.codename, claimed=True))
    return response
