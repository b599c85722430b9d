"""Her own request for a disclosure: "please send my details to ..." (POLICY.md v2).

On her return page she can ask her support service to send chosen details to a chosen kind of
organisation for a stated reason, in plain words, with what will happen next. Made through
her own door, the request (and the consent it carries) counts at once: it is what lets her
service tell the guard "she asked for this" (``victim_initiated``). She can withdraw it until
it is carried out. Like every victim page: POST, then a redirect; nothing of her case in a URL.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from safereport.domain.vocabulary import DataCategory, Purpose, Recipient
from safereport.errors import InvalidInput, SafeReportError
from safereport.services import victim as service
from safereport.services.provenance import REQUEST_CHOICES, REQUESTABLE_CATEGORIES
from safereport.web.i18n import N_
from safereport.web.victim import _action, _see_other, current_return_session
from safereport.web.victim_session import Flash, session_of
from safereport.web.victim_support import consent_label, language_of, render, translate

__all__ = ["CATEGORY_LABELS", "router"]

router = APIRouter(include_in_schema=False)

#: The kinds of information she may ask to send, in her words.
CATEGORY_LABELS: dict[DataCategory, str] = {
    DataCategory.IDENTITY: N_("Your name and date of birth"),
    DataCategory.CONTACT: N_("How to contact you (phone, email)"),
    DataCategory.ADDRESS: N_("Your address"),
    DataCategory.CRIME_DETAILS: N_("What happened to you (your account)"),
    DataCategory.HEALTH: N_("Your health needs"),
    DataCategory.NATIONALITY: N_("Your nationality"),
    DataCategory.IMMIGRATION_STATUS: N_("Your immigration status"),
    DataCategory.IMMIGRATION_ABUSE: N_("What you told us about abuse linked to your "
                                       "immigration status (for example threats to have you "
                                       "sent away, or your passport taken)"),
    DataCategory.RISK_ASSESSMENT: N_("Your caseworker's assessment of the danger you are in"),
}
assert set(CATEGORY_LABELS) == set(REQUESTABLE_CATEGORIES)

_ASKED = N_("Your request has been sent to your support service. You can see it below.")
_WITHDRAWN = N_("Your request has been withdrawn. Nothing more will be sent because of it.")
_CHOOSE_WHERE = N_("Please choose where your information should go.")
_CHOOSE_WHAT = N_("Please choose at least one kind of information.")
_FAILED = N_("Something went wrong. Nothing was saved. Please try again.")


def _choices(lang: str) -> list[tuple[str, str]]:
    return [(f"{r.value}/{p.value}", consent_label(lang, r, p)) for r, p in REQUEST_CHOICES]


def _categories(lang: str) -> list[tuple[str, str]]:
    return [(c.value, translate(lang, CATEGORY_LABELS[c])) for c in REQUESTABLE_CATEGORIES]


@router.get("/return/ask", response_class=HTMLResponse)
def ask_form(request: Request) -> Response:
    lang = language_of(request)
    found = session_of(request)
    if found is None or current_return_session(request) is None:
        return _see_other("/return", lang)
    flash, found.flash = found.flash or Flash(), None
    return render(request, "victim/ask.html", lang, choices=_choices(lang),
                  categories=_categories(lang), errors=flash.errors,
                  values={"where": flash.values.get("where", ""),
                          "what": flash.values.get("what", "").split()})


@router.post("/return/ask")
async def ask_submit(request: Request) -> Response:
    acted = await _action(request)
    if isinstance(acted, RedirectResponse):
        return acted
    lang, form, found, session = acted
    recipient, _, purpose = str(form.get("where") or "").partition("/")
    chosen = [str(c) for c in form.getlist("what")]
    errors: dict[str, str] = {}
    try:
        where = (Recipient(recipient), Purpose(purpose))
    except ValueError:
        errors["where"] = translate(lang, _CHOOSE_WHERE)
    if not chosen:
        errors["what"] = translate(lang, _CHOOSE_WHAT)
    kept = {"where": f"{recipient}/{purpose}", "what": " ".join(chosen)}
    if errors:
        found.flash = Flash(errors=errors, values=kept)
        return _see_other("/return/ask", lang)
    try:
        service.ask_for_disclosure(request.app.state.instance, session, *where, chosen)
    except InvalidInput:
        found.flash = Flash(errors={"where": translate(lang, _CHOOSE_WHERE)}, values=kept)
        return _see_other("/return/ask", lang)
    except SafeReportError:
        found.flash = Flash(notice=translate(lang, _FAILED))
    else:
        found.flash = Flash(notice=translate(lang, _ASKED))
    return _see_other("/return", lang)


@router.post("/return/ask/withdraw")
async def ask_withdraw(request: Request) -> Response:
    acted = await _action(request)
    if isinstance(acted, RedirectResponse):
        return acted
    lang, form, found, session = acted
    try:
        service.withdraw_request(request.app.state.instance, session,
                                 str(form.get("request") or "")[:32])
    except SafeReportError:
        found.flash = Flash(notice=translate(lang, _FAILED))
    else:
        found.flash = Flash(notice=translate(lang, _WITHDRAWN))
    return _see_other("/return", lang)
