"""What the victim's pages share: rendering in the person's language, labels, form limits and
throttles. The routes are in :mod:`safereport.web.victim`, the return session in
:mod:`safereport.web.victim_session`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from babel.dates import format_datetime, get_timezone
from fastapi import Request
from fastapi.responses import HTMLResponse

from safereport.config import Settings
from safereport.domain.case import CaseStatus
from safereport.domain.vocabulary import (
    Action,
    ActorRole,
    CrimeType,
    Effect,
    OrgKind,
    Purpose,
    Recipient,
)
from safereport.services.intake import ContactChannel, Problem
from safereport.web.app import TEMPLATES
from safereport.web.i18n import LANGUAGES, N_, install_i18n, negotiate, template_context
from safereport.web.security import Lockout, RateLimiter, csrf_token

__all__ = [
    "DEFAULT_EXIT_URL",
    "FIELD_LABELS",
    "MAX_BODY_BYTES",
    "MODES",
    "Throttles",
    "channels",
    "consent_choices",
    "consent_label",
    "exit_url",
    "format_when",
    "label",
    "language_of",
    "localised_url",
    "problem_messages",
    "reasons",
    "render",
    "switched_language",
    "throttles",
    "translate",
]

install_i18n(TEMPLATES.env)
TEMPLATES.env.newstyle_gettext = True  # type: ignore[attr-defined]

#: Where the quick exit goes when the deployment names nowhere else (``quick_exit_url``).
DEFAULT_EXIT_URL = "https://www.bbc.co.uk/weather"
#: A report's largest field is 20 000 characters; four bytes each and the rest is ample.
MAX_BODY_BYTES = 128 * 1024
_UK = get_timezone("Europe/London")

# -- labels: every value a victim may see, in plain words --------------------------------

_LABELS: dict[str, str] = {
    # crime types
    CrimeType.DOMESTIC_ABUSE: N_("Domestic abuse (by a partner, ex-partner or family member)"),
    CrimeType.SEXUAL_OFFENCE: N_("Sexual violence or abuse"),
    CrimeType.MODERN_SLAVERY: N_("Forced work, or being controlled by someone (modern slavery)"),
    CrimeType.STALKING_HARASSMENT: N_("Stalking or harassment"),
    CrimeType.HATE_CRIME: N_("Hate crime (because of who you are)"),
    CrimeType.OTHER: N_("Something else"),
    # statuses
    CaseStatus.NEW: N_("Received"),
    CaseStatus.IN_PROGRESS: N_("Being worked on"),
    # Dormant is the service's word for a case it has lost touch with; to her it is still open
    # (issue 17), so she reads the same words as for a case being worked on.
    CaseStatus.DORMANT: N_("Being worked on"),
    CaseStatus.REFERRED: N_("Passed to another service"),
    CaseStatus.CLOSED: N_("Closed"),
    CaseStatus.ERASURE_PENDING: N_("Waiting to be deleted"),
    CaseStatus.ERASED: N_("Deleted"),
    # contact channels
    ContactChannel.CALL: N_("Call you"),
    ContactChannel.TEXT: N_("Send you text messages"),
    ContactChannel.EMAIL: N_("Email you"),
}

_CONSENT_LABELS: dict[tuple[Recipient, Purpose], str] = {
    (Recipient.POLICE, Purpose.INVESTIGATION): N_(
        "The police, so that they can investigate the crime"),
    (Recipient.HEALTH, Purpose.SAFEGUARDING): N_(
        "Health services (for example your doctor), to help keep you safe"),
    (Recipient.HOUSING, Purpose.SAFEGUARDING): N_("Housing services, to help keep you safe"),
    (Recipient.LOCAL_AUTHORITY, Purpose.SAFEGUARDING): N_(
        "The local council (for example children's services), to help keep you safe"),
    (Recipient.MARAC, Purpose.MARAC): N_(
        "A MARAC meeting (local services that work together to protect people at high risk)"),
    (Recipient.IMMIGRATION_ENFORCEMENT, Purpose.REGULARISATION_SUPPORT): N_(
        "The Home Office, only to help you with your own immigration status "
        "(your adviser does this for you)"),
}

_ROLE_LABELS: dict[str, str] = {
    ActorRole.ADMIN: N_("Administrator"),
    ActorRole.ANALYST: N_("Analyst"),
    ActorRole.AUDITOR: N_("Auditor"),
    ActorRole.CASEWORKER: N_("Caseworker"),
    ActorRole.IMMIGRATION_OFFICER: N_("Immigration officer"),
    ActorRole.MARAC_MEMBER: N_("MARAC member"),
    ActorRole.POLICE_OFFICER: N_("Police officer"),
    ActorRole.POLICE_SYSTEM: N_("Police computer system"),
    ActorRole.SUPERVISOR: N_("Supervisor"),
    ActorRole.VICTIM: N_("You"),
}

_ORG_LABELS: dict[str, str] = {
    OrgKind.COURT: N_("Court"),
    OrgKind.HEALTH: N_("Health service"),
    OrgKind.HOUSING: N_("Housing service"),
    OrgKind.IMMIGRATION_ENFORCEMENT: N_("Home Office (immigration)"),
    OrgKind.LOCAL_AUTHORITY: N_("Local council"),
    OrgKind.MARAC: N_("MARAC"),
    OrgKind.POLICE: N_("Police"),
    OrgKind.SUPPORT_SERVICE: N_("Support service"),
}

_ACTION_LABELS: dict[str, str] = {
    Action.DATABASE_CHECK: N_("Database check"),
    Action.DISCLOSE: N_("Shared it"),
    Action.ENFORCEMENT_ACTION: N_("Enforcement action"),
    Action.ERASE: N_("Delete"),
    Action.PUBLISH_STATISTICS: N_("Statistics"),
    Action.UPDATE: N_("Changed or added to it"),
    Action.VIEW: N_("Looked at it"),
}

_PURPOSE_LABELS: dict[str, str] = {
    Purpose.COURT_ORDER: N_("A court order"),
    Purpose.IMMIGRATION_ENFORCEMENT: N_("Immigration enforcement"),
    Purpose.IMMIGRATION_STATUS_CHECK: N_("Checking immigration status"),
    Purpose.INVESTIGATION: N_("Investigating the crime"),
    Purpose.MARAC: N_("A MARAC meeting"),
    Purpose.PROSECUTION: N_("Taking the case to court"),
    Purpose.REGULARISATION_SUPPORT: N_("Helping with your immigration status"),
    Purpose.SAFEGUARDING: N_("Keeping you or others safe"),
    Purpose.STATISTICS: N_("Statistics"),
    Purpose.SUBJECT_ACCESS: N_("Your own use of your report"),
    Purpose.SUPPORT: N_("Supporting you"),
}

_EFFECT_LABELS: dict[str, str] = {
    Effect.ALLOW: N_("Allowed"),
    Effect.CONDITIONAL: N_("Allowed, with conditions"),
    Effect.DENY: N_("Refused"),
}

#: Each rule's reason in plain words (the rule ids are the guard's, from the Cedar policies).
_RULE_REASONS: dict[str, str] = {
    "C-abuse-evidence": N_("What you told us about abuse linked to your immigration status "
                           "never goes to immigration enforcement, unless you ask for it."),
    "C-casework": N_("Your support service may use your report to support you."),
    "C-checks": N_("The police may check their databases to keep people safe or to investigate."),
    "C-consent": N_("You gave your clear consent."),
    "C-court": N_("A court case needs it, with extra checks."),
    "C-default": N_("No rule allows this, so it was refused."),
    "C-no-automation": N_("Computer systems may never pass on your data by themselves."),
    "C-no-direct-ie": N_("Immigration officers can never see records kept here."),
    "C-no-status-checks": N_(
        "No one may search databases only to find out your immigration status."),
    "C-policework": N_(
        "The police may use their own record to investigate or to keep people safe."),
    "C-safeguarding": N_("To keep you or someone else safe."),
    "C-self": N_("You used your own report."),
    "C-statistics": N_("Only numbers about many people may be published."),
    "C-suspect": N_("About a suspect, with a supervisor's approval."),
    "C-victim-directed": N_("Because you asked for it and agreed to it."),
    "C-victims-code": N_("The police may put you in touch with a support service (Victims' Code)."),
    "F-firewall": N_("The firewall: your data never goes to immigration enforcement."),
    "F-no-enforcement": N_("No immigration action may be taken against a victim or witness."),
    "F-purpose": N_("Your data may never be used for immigration control."),
    "F-redacted-checks": N_(
        "Checks are allowed only without your nationality and immigration status."),
    "F-sealed": N_("Your nationality and immigration status are sealed."),
    "N-contact-ie": N_(
        "Under the rules here, the police may pass basic information to the Home Office."),
    "N-holder": N_("A support service never passes your data to the Home Office unless you ask."),
    "N-no-police-enforcement": N_(
        "The police take no immigration action against victims or witnesses."),
    "R1-doubts": N_("Doubts about your status alone are no reason to pass on your data."),
    # The service refusals (docs/spec/POLICY.md section 6).
    "S-conflict": N_(
        "It had already been done, or something changed in the meantime, so it was refused."),
    "S-declined": N_("Someone said no, so it was refused and nothing was sent."),
    "S-erased": N_("Your report had been erased, so it was refused and nothing was shown."),
    "S-expired": N_("The shared copy had expired, so it was refused and nothing was shown."),
    "S-malformed": N_("The request could not be read, so it was refused and nothing was shown."),
    "S-not-held": N_("Someone who does not hold your report tried to open it. They were "
                     "refused and saw nothing."),
    "S-not-offered": N_("The person who asked may not do this at all, so it was refused."),
    "S-obligation-unmet": N_("It needed extra checks that were not done, so nothing was shown."),
    "S-step": N_("A staff step that did not open your report."),
    "S-unknown-case": N_("Someone asked for a report that does not exist. Nothing was shown."),
    "S-vault-failure": N_("Your protected data could not be opened, so nothing was shown."),
}


_PROBLEMS: dict[Problem, str] = {
    Problem.REQUIRED: N_("%(field)s: please fill this in."),
    Problem.TOO_LONG: N_("%(field)s: this is too long. Please make it shorter."),
    Problem.INVALID_CHOICE: N_("%(field)s: please choose one of the options."),
    Problem.NOT_TEXT: N_("%(field)s: please type text here."),
    Problem.UNREADABLE: N_("%(field)s: some characters could not be read. Please type it again."),
    Problem.UNKNOWN_FIELD: N_("%(field)s: this is not part of the form."),
    Problem.NOT_A_PHONE: N_("%(field)s: this does not look like a phone number. Please check "
                            "it: use only numbers, spaces and +."),
    Problem.NOT_AN_EMAIL: N_("%(field)s: this does not look like an email address. Please "
                             "check it, for example name@example.com."),
}

FIELD_LABELS: dict[str, str] = {
    "mode": N_("How do you want to report?"),
    "subject_role": N_("Are you the person this happened to?"),
    "crime_type": N_("What kind of crime was it?"),
    "narrative": N_("What happened?"),
    "occurred": N_("When did it happen? (optional)"),
    "location": N_("Where did it happen? (optional)"),
    "name": N_("Your name (only if you report with your name)"),
    "phone": N_("Phone number"),
    "email": N_("Email address"),
    "safe_contact": N_("Is it safe for us to…"),
    "safe_contact_note": N_("Anything else about contacting you safely (optional)"),
    "consents": N_("Who may we share your report with?"),
    "codename": N_("Your codename"),
    "claim_code": N_("Claim code"),
    "message": N_("Write a message"),
}

MODES: tuple[tuple[str, str, str], ...] = (
    ("anonymous", N_("Without my name"), N_(
        "We keep nothing that says who you are. We cannot contact you, and you cannot come "
        "back to this report.")),
    ("codename", N_("With a codename"), N_(
        "We give you a secret codename, in words or numbers. With it you can come back, read "
        "messages and see who has seen your report. We do not need your name.")),
    ("identified", N_("With my name"), N_(
        "A caseworker can contact you in the way you choose below.")),
)


def label(lang: str, key: str) -> str:
    """The translated label of a vocabulary value (the raw value if it has none)."""
    for table in (_LABELS, _ROLE_LABELS, _ORG_LABELS, _ACTION_LABELS, _PURPOSE_LABELS,
                  _EFFECT_LABELS):
        if key in table:
            return _gettext(lang, table[key])
    return key


def reasons(lang: str, rules: tuple[str, ...]) -> list[tuple[str, str]]:
    """(rule id, its reason in the person's language) for each rule that decided an entry."""
    return [(rule, _gettext(lang, _RULE_REASONS[rule]) if rule in _RULE_REASONS else "")
            for rule in rules]


def _gettext(lang: str, message: str) -> str:
    from safereport.web.i18n import translations

    return translations(lang).gettext(message)


def translate(lang: str, message: str, **variables: Any) -> str:
    text = _gettext(lang, message)
    return text % variables if variables else text


def problem_messages(lang: str, problems: Mapping[str, Problem]) -> dict[str, str]:
    """Field -> a message in the person's language."""
    out: dict[str, str] = {}
    for name, problem in problems.items():
        field = FIELD_LABELS.get(name)
        shown = _gettext(lang, field) if field else name
        out[name] = translate(lang, _PROBLEMS[problem], field=shown)
    return out


def consent_label(lang: str, recipient: Recipient, purpose: Purpose) -> str:
    return _gettext(lang, _CONSENT_LABELS[(recipient, purpose)])


def consent_choices(lang: str) -> list[tuple[str, str]]:
    return [(f"{r.value}/{p.value}", _gettext(lang, text)) for (r, p), text in
            _CONSENT_LABELS.items()]


# -- language -------------------------------------------------------------------------------

def language_of(request: Request, form: Mapping[str, Any] | None = None) -> str:
    """The language asked for by a ``lang`` field or query, else the browser's, else English."""
    requested = None
    if form is not None and isinstance(form.get("lang"), str):
        requested = form.get("lang")
    requested = requested or request.query_params.get("lang")
    allowed = _allowed_languages(request)
    return negotiate(requested, request.headers.get("accept-language"), allowed)


def switched_language(request: Request, form: Mapping[str, Any] | None) -> str | None:
    """The language she chose on a page's own form (its language buttons send what she typed
    with them: ``lang_form`` in the layout), or None if she chose none (or one not offered)."""
    asked = form.get("switch_lang") if form is not None else None
    if not isinstance(asked, str) or asked not in _allowed_languages(request):
        return None
    return asked


def _allowed_languages(request: Request) -> tuple[str, ...]:
    instance = getattr(request.app.state, "instance", None)
    settings = getattr(instance, "settings", None)
    configured = getattr(settings, "languages", None)
    return tuple(configured) if configured else tuple(LANGUAGES)


def format_when(lang: str, moment: datetime | None) -> str:
    """A date and time in the person's language, in UK time."""
    if moment is None:
        return ""
    return str(format_datetime(moment, format="medium", locale=lang, tzinfo=_UK))


def localised_url(path: str, lang: str) -> str:
    """``path`` in ``lang`` (no query for English): the language travels in the address."""
    return path if lang == "en" else f"{path}?lang={lang}"


# -- rendering ------------------------------------------------------------------------------

def exit_url(request: Request) -> str:
    instance = getattr(request.app.state, "instance", None)
    value = getattr(getattr(instance, "settings", None), "quick_exit_url", "")
    return value if isinstance(value, str) and value.startswith("https://") else DEFAULT_EXIT_URL


def render(
    request: Request, name: str, lang: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render a victim page in ``lang`` with a fresh CSRF token and the quick exit."""

    def url(path: str) -> str:
        return localised_url(path, lang)

    def fmt_date(moment: datetime | None) -> str:
        return format_when(lang, moment)

    values = {
        **template_context(lang),
        "csrf": csrf_token(request),
        "exit_url": exit_url(request),
        "exit_path": "/return/exit",
        "page_path": request.url.path,
        "url": url,
        "fmt_date": fmt_date,
        "errors": {},
        "values": {},
        **context,
    }
    return TEMPLATES.TemplateResponse(request, name, values, status_code=status_code)


# -- throttles ------------------------------------------------------------------------------

@dataclass
class Throttles:
    """Per-client limits (keys are HMACs of addresses) and a global cap on failed guesses."""

    reports: RateLimiter
    attempts: Lockout
    failures_everywhere: RateLimiter


def throttles(request: Request) -> Throttles:
    state = request.app.state
    existing = getattr(state, "victim_throttles", None)
    if isinstance(existing, Throttles):
        return existing
    instance = getattr(state, "instance", None)
    settings = getattr(instance, "settings", None)
    made = Throttles(
        reports=RateLimiter(getattr(settings, "report_limit_per_hour",
                                    Settings.report_limit_per_hour), 3600),
        attempts=Lockout(5, window=15 * 60, lock=15 * 60),
        failures_everywhere=RateLimiter(getattr(settings, "codename_failures_per_minute",
                                                Settings.codename_failures_per_minute), 60),
    )
    state.victim_throttles = made
    return made


def channels(lang: str) -> list[tuple[str, str]]:
    return [(c.value, label(lang, c)) for c in ContactChannel]
