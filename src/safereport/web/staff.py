"""Staff pages: case list and search, the case page, notes, status, risk, third-party reports,
disclosures (request, justification, approval), the inbox of packages sent to the organisation.

Each route parses input, calls one service, renders. No route compares roles: the services ask
the guard (case data) or the one map of staff areas (which pages a role is offered). A route
does not catch the refusals: the app's exception handlers show them (a denial with its rule ids
and reasons, a missing thing as 404, refused input as 400), with the "Go back" link each route
names with :func:`~safereport.web.errors.back_to` (:mod:`safereport.web.errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from safereport.domain.case import CaseStatus
from safereport.domain.fields import (
    CATEGORY_LABELS,
    FIELD_CATEGORY,
    FIELD_LABELS,
    FIELD_ORDER,
    CaseField,
)
from safereport.domain.risk import (
    IMMIGRATION_ABUSE_CHECKLIST,
    Answer,
    RiskLevel,
    read_immigration_abuse,
)
from safereport.domain.vocabulary import (
    CrimeType,
    DataCategory,
    OrgKind,
    Purpose,
    Recipient,
    StatusEvidence,
    SubjectRole,
)
from safereport.errors import AccessDenied, InvalidInput, NotFound
from safereport.services import case_page, casework, disclosure, practice, provenance
from safereport.services.auth import StaffArea, ensure_area
from safereport.services.intake import CONSENT_CHOICES
from safereport.stats.labels import label
from safereport.vault.blind import BlindKind
from safereport.web.auth import Staff, StaffRequest, check_form, instance_of, render_staff
from safereport.web.errors import back_to

__all__ = ["router"]

router = APIRouter(prefix="/staff", include_in_schema=False)
T = TypeVar("T")

_DISCLOSABLE = tuple(c for c in DataCategory if c is not DataCategory.AGGREGATE)
#: Plain words for codes, for every page that shows them.
_LABELS: dict[str, Any] = {"label": label, "field_labels": FIELD_LABELS,
                           "category_labels": CATEGORY_LABELS}


def _enum(kind: type[T], value: str | None) -> T | None:
    if not value:
        return None
    try:
        return kind(value)  # type: ignore[call-arg]
    except ValueError:
        return None


# ---- home, lists, search ---------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, staff: Staff) -> Response:
    return render_staff(request, "staff/home.html")


@router.get("/cases", response_class=HTMLResponse)
@back_to("/staff/")
def case_list(request: Request, staff: Staff, status: str = "", crime_type: str = "",
              mine: str = "") -> Response:
    ensure_area(staff.user, StaffArea.CASEWORK)
    filters = casework.CaseFilter(status=_enum(CaseStatus, status),
                                  crime_type=_enum(CrimeType, crime_type),
                                  assigned_to_me=mine == "1")
    found = casework.list_cases(instance_of(request), staff.user, filters)
    return render_staff(request, "staff/cases.html", cases=found, filters=filters,
                        statuses=list(CaseStatus), crime_types=list(CrimeType),
                        search=None, kinds=[BlindKind.REFERENCE, BlindKind.PHONE],
                        inactive_days=casework.INACTIVE_DAYS)


@router.get("/search", response_class=HTMLResponse)
@back_to("/staff/cases")
def search(request: Request, staff: Staff, kind: str = "reference", q: str = "") -> Response:
    ensure_area(staff.user, StaffArea.CASEWORK)
    if kind == "claim_code":
        found = casework.search_claim_code(instance_of(request), staff.user, q)
        searched = kind
    else:
        blind = _enum(BlindKind, kind) or BlindKind.REFERENCE
        if blind is BlindKind.EMAIL:
            blind = BlindKind.REFERENCE
        found = (casework.search_cases(instance_of(request), staff.user, blind, q)
                 if q else [])
        searched = blind.value
    return render_staff(request, "staff/cases.html", cases=found,
                        filters=casework.CaseFilter(), statuses=list(CaseStatus),
                        crime_types=list(CrimeType), search={"kind": searched, "q": q},
                        kinds=[BlindKind.REFERENCE, BlindKind.PHONE],
                        inactive_days=casework.INACTIVE_DAYS)


# ---- filing a third-party report -----------------------------------------------------------

_NEW_FIELDS = (CaseField.NAME, CaseField.PHONE, CaseField.EMAIL, CaseField.ADDRESS,
               CaseField.SAFE_CONTACT, CaseField.OCCURRED, CaseField.LOCATION,
               CaseField.NARRATIVE, CaseField.NATIONALITY, CaseField.IMMIGRATION_STATUS)


def _new_page(request: Request, error: str = "", status_code: int = 200) -> HTMLResponse:
    return render_staff(request, "staff/new_case.html", status_code=status_code, error=error,
                        fields=_NEW_FIELDS, crime_types=list(CrimeType),
                        subject_roles=[SubjectRole.VICTIM, SubjectRole.WITNESS],
                        consent_choices=CONSENT_CHOICES)


@router.get("/cases/new", response_class=HTMLResponse)
@back_to("/staff/")
def new_case_form(request: Request, staff: Staff) -> Response:
    ensure_area(staff.user, StaffArea.CASEWORK)
    return _new_page(request)


@router.post("/cases/new", response_class=HTMLResponse)
@back_to("/staff/cases")
async def new_case(request: Request, staff: Staff) -> Response:
    form = await check_form(request)
    consents = []
    for raw in form.getlist("consent"):
        for recipient, purpose in CONSENT_CHOICES:
            if raw == f"{recipient.value}:{purpose.value}":
                consents.append((recipient, purpose))
    ensure_area(staff.user, StaffArea.CASEWORK)
    crime = _enum(CrimeType, str(form.get("crime_type", "")))
    role = _enum(SubjectRole, str(form.get("subject_role", "")))
    if crime is None or role is None or role is SubjectRole.SUSPECT:
        return _new_page(request, "Choose the kind of crime and the person's role.", 400)
    values = {f: str(form.get(f.value, "")) for f in _NEW_FIELDS}
    try:
        filed = casework.file_third_party_report(
            instance_of(request), staff.user, crime_type=crime, subject_role=role,
            values=values, consents_given=consents)
    except InvalidInput as exc:
        return _new_page(request, str(exc), 400)
    return render_staff(request, "staff/filed.html", filed=filed)


# ---- the case page --------------------------------------------------------------------------


@router.get("/cases/{case_id}", response_class=HTMLResponse)
@back_to("/staff/cases")
def case_view(request: Request, staff: Staff, case_id: str, purpose: str = "") -> Response:
    view = case_page.case_page_view(instance_of(request), staff.user, case_id,
                                    _enum(Purpose, purpose))
    page = view.page
    abuse = page.values.get(CaseField.IMMIGRATION_ABUSE)
    return render_staff(
        request, "staff/case.html", page=page, fields=list(FIELD_ORDER),
        category_of=FIELD_CATEGORY, purposes=list(Purpose), **_LABELS,
        sections=_CASE_SECTIONS, yes=Answer.YES, abuse_field=CaseField.IMMIGRATION_ABUSE,
        risk_field=CaseField.RISK_ANSWERS,
        abuse=read_immigration_abuse(abuse) if abuse else None,
        interpreter_needs=casework.INTERPRETER_NEEDS,
        closure_reasons=casework.CLOSURE_REASONS,
        outcome_measures=practice.OUTCOME_MEASURES, outcome_stages=practice.OUTCOME_STAGES,
        marac_agencies=practice.MARAC_AGENCIES,
        marac_referrals=view.marac_referrals,
        transfers=view.transfers,
        transfer_orgs=view.transfer_orgs,
        colleagues=view.colleagues,
        statuses=[s for s in casework.STAFF_STATUSES if s is not page.summary.status],
        disclosures=view.disclosures,
        checklist=view.checklist,
        facts=view.facts, withheld_around=view.withheld_around,
        consent_choices=CONSENT_CHOICES, request_choices=provenance.REQUEST_CHOICES,
        requestable=provenance.REQUESTABLE_CATEGORIES,
        voices=view.voices,
        case_id=case_id)


#: The case page's sections: a heading and the fields under it, in reading order.
_CASE_SECTIONS: tuple[tuple[str, tuple[CaseField, ...]], ...] = (
    ("Her account", (CaseField.NARRATIVE, CaseField.OCCURRED, CaseField.LOCATION)),
    ("Before you contact her", (CaseField.SAFE_CONTACT, CaseField.LANGUAGE,
                                CaseField.INTERPRETER)),
    ("Who she is and how to reach her", (CaseField.NAME, CaseField.DATE_OF_BIRTH,
                                         CaseField.PHONE, CaseField.EMAIL, CaseField.ADDRESS,
                                         CaseField.HEALTH_NEEDS)),
    ("Sealed: only her own support service", (CaseField.NATIONALITY,
                                               CaseField.IMMIGRATION_STATUS)),
)


@router.post("/cases/{case_id}/language")
@back_to("/staff/cases/{case_id}")
async def set_language(request: Request, staff: Staff, case_id: str) -> Response:
    form = await check_form(request)
    ensure_area(staff.user, StaffArea.CASEWORK)
    casework.set_language_needs(
        instance_of(request), staff.user, case_id, language=str(form.get("language", "")),
        needs=[str(n) for n in form.getlist("need")],
        note=str(form.get("interpreter_note", "")))
    return RedirectResponse(f"/staff/cases/{case_id}#before-contact", status_code=303)


@router.post("/cases/{case_id}/safety-plan")
@back_to("/staff/cases/{case_id}")
async def add_safety_action(request: Request, staff: Staff, case_id: str) -> Response:
    form = await check_form(request)
    ensure_area(staff.user, StaffArea.CASEWORK)
    casework.add_safety_action(instance_of(request), staff.user, case_id,
                               str(form.get("action", "")),
                               owner_id=str(form.get("owner", "")),
                               due=str(form.get("due", "")))
    return RedirectResponse(f"/staff/cases/{case_id}#safety-plan", status_code=303)


def _mark_done(complete: Callable[..., None], anchor: str) -> Callable[..., Any]:
    """A route that marks one action of the case done (a safety plan's, a MARAC's)."""
    @back_to("/staff/cases/{case_id}")
    async def route(request: Request, staff: Staff, case_id: str, action_id: str) -> Response:
        await check_form(request)
        ensure_area(staff.user, StaffArea.CASEWORK)
        complete(instance_of(request), staff.user, case_id, action_id)
        return RedirectResponse(f"/staff/cases/{case_id}#{anchor}", status_code=303)
    return route


router.add_api_route("/cases/{case_id}/safety-plan/{action_id}/done",
                     _mark_done(casework.complete_safety_action, "safety-plan"),
                     methods=["POST"])
router.add_api_route("/cases/{case_id}/marac-actions/{action_id}/done",
                     _mark_done(practice.complete_marac_action, "marac"), methods=["POST"])


@router.post("/cases/{case_id}/outcomes/{stage}")
@back_to("/staff/cases/{case_id}")
async def record_outcomes(request: Request, staff: Staff, case_id: str, stage: str) -> Response:
    form = await check_form(request)
    ensure_area(staff.user, StaffArea.CASEWORK)
    practice.record_outcomes(
        instance_of(request), staff.user, case_id, stage,
        {m.code: str(form.get(f"o-{m.code}", "")) for m in practice.OUTCOME_MEASURES})
    return RedirectResponse(f"/staff/cases/{case_id}#outcomes", status_code=303)


@router.post("/cases/{case_id}/marac-actions")
@back_to("/staff/cases/{case_id}")
async def add_marac_action(request: Request, staff: Staff, case_id: str) -> Response:
    form = await check_form(request)
    ensure_area(staff.user, StaffArea.CASEWORK)
    practice.add_marac_action(instance_of(request), staff.user, case_id,
                              str(form.get("action", "")), agency=str(form.get("agency", "")),
                              due=str(form.get("due", "")),
                              referral_id=str(form.get("referral", "")))
    return RedirectResponse(f"/staff/cases/{case_id}#marac", status_code=303)


@router.post("/cases/{case_id}/transfer")
@back_to("/staff/cases/{case_id}")
async def transfer(request: Request, staff: Staff, case_id: str) -> Response:
    form = await check_form(request)
    ensure_area(staff.user, StaffArea.CASEWORK)
    request_id = practice.request_transfer(
        instance_of(request), staff.user, case_id, str(form.get("to_org", "")),
        str(form.get("justification", "")))
    return RedirectResponse(f"/staff/disclosures/{request_id}", status_code=303)


@router.post("/cases/{case_id}/assign")
@back_to("/staff/cases/{case_id}")
async def assign(request: Request, staff: Staff, case_id: str) -> Response:
    form = await check_form(request)
    ensure_area(staff.user, StaffArea.CASEWORK)
    casework.assign(instance_of(request), staff.user, case_id,
                    str(form.get("assignee", "")))
    return RedirectResponse(f"/staff/cases/{case_id}", status_code=303)


def _abuse_page(request: Request, case_id: str, *, error: str = "", answers: Any = None,
                note: str = "", status_code: int = 200) -> HTMLResponse:
    return render_staff(request, "staff/immigration_abuse.html", status_code=status_code,
                        case_id=case_id, checklist=IMMIGRATION_ABUSE_CHECKLIST, error=error,
                        answers=answers or {}, note=note)


@router.get("/cases/{case_id}/immigration-abuse", response_class=HTMLResponse)
@back_to("/staff/cases/{case_id}")
def immigration_abuse_form(request: Request, staff: Staff, case_id: str) -> Response:
    ensure_area(staff.user, StaffArea.CASEWORK)
    return _abuse_page(request, case_id)


@router.post("/cases/{case_id}/immigration-abuse", response_class=HTMLResponse)
@back_to("/staff/cases/{case_id}")
async def immigration_abuse_save(request: Request, staff: Staff, case_id: str) -> Response:
    form = await check_form(request)
    answers = {item.id: str(form.get(f"q-{item.id}", ""))
               for item in IMMIGRATION_ABUSE_CHECKLIST.items if form.get(f"q-{item.id}")}
    note = str(form.get("note", ""))
    ensure_area(staff.user, StaffArea.CASEWORK)
    try:
        casework.save_immigration_abuse(instance_of(request), staff.user, case_id, answers,
                                        note=note)
    except casework.CaseNotHeld:
        raise  # the error page (404), not the form
    except InvalidInput as exc:
        return _abuse_page(request, case_id, error=str(exc), answers=answers, note=note,
                           status_code=400)
    return RedirectResponse(f"/staff/cases/{case_id}#sealed", status_code=303)


# ---- her consents and requests, recorded in person and confirmed by a second person ---------


def _choice_of(form: Any, name: str) -> tuple[Recipient, Purpose]:
    recipient, _, purpose = str(form.get(name, "")).partition("/")
    try:
        return Recipient(recipient), Purpose(purpose)
    except ValueError as exc:
        raise InvalidInput("choose what she agreed to") from exc


@router.post("/cases/{case_id}/consents")
@back_to("/staff/cases/{case_id}")
async def record_consent(request: Request, staff: Staff, case_id: str) -> Response:
    form = await check_form(request)
    ensure_area(staff.user, StaffArea.CASEWORK)
    recipient, purpose = _choice_of(form, "consent")
    provenance.record_consent_in_person(instance_of(request), staff.user, case_id,
                                        recipient, purpose)
    return RedirectResponse(f"/staff/cases/{case_id}#facts", status_code=303)


@router.post("/cases/{case_id}/requests")
@back_to("/staff/cases/{case_id}")
async def record_request(request: Request, staff: Staff, case_id: str) -> Response:
    form = await check_form(request)
    ensure_area(staff.user, StaffArea.CASEWORK)
    recipient, purpose = _choice_of(form, "asked")
    provenance.record_request_in_person(
        instance_of(request), staff.user, case_id, recipient, purpose,
        [str(c) for c in form.getlist("category")])
    return RedirectResponse(f"/staff/cases/{case_id}#facts", status_code=303)


@router.post("/cases/{case_id}/facts/{kind}/{fact_id}/confirm")
@back_to("/staff/cases/{case_id}")
async def confirm_fact(request: Request, staff: Staff, case_id: str, kind: str,
                       fact_id: str) -> Response:
    await check_form(request)
    ensure_area(staff.user, StaffArea.CASEWORK)
    confirm = (provenance.confirm_request if kind == "request"
               else provenance.confirm_consent)
    confirm(instance_of(request), staff.user, fact_id)
    return RedirectResponse(f"/staff/cases/{case_id}#facts", status_code=303)


@router.post("/cases/{case_id}/notes")
@back_to("/staff/cases/{case_id}")
async def add_note(request: Request, staff: Staff, case_id: str) -> Response:
    form = await check_form(request)
    casework.add_note(instance_of(request), staff.user, case_id, str(form.get("text", "")),
                      visible_to_subject=form.get("to_subject") == "1")
    return RedirectResponse(f"/staff/cases/{case_id}#notes", status_code=303)


@router.post("/cases/{case_id}/status")
@back_to("/staff/cases/{case_id}")
async def set_status(request: Request, staff: Staff, case_id: str) -> Response:
    form = await check_form(request)
    casework.change_status(instance_of(request), staff.user, case_id,
                           str(form.get("status", "")),
                           closure_reason=str(form.get("closure_reason", "")))
    return RedirectResponse(f"/staff/cases/{case_id}", status_code=303)


# ---- risk checklist -------------------------------------------------------------------------


def _risk_page(request: Request, case_id: str, *, error: str = "", answers: Any = None,
               status_code: int = 200) -> HTMLResponse:
    return render_staff(request, "staff/risk.html", status_code=status_code, case_id=case_id,
                        checklist=casework.load_checklist(instance_of(request)), error=error,
                        answers=answers or {}, levels=list(RiskLevel))


@router.get("/cases/{case_id}/risk", response_class=HTMLResponse)
@back_to("/staff/cases/{case_id}")
def risk_form(request: Request, staff: Staff, case_id: str) -> Response:
    ensure_area(staff.user, StaffArea.CASEWORK)
    return _risk_page(request, case_id)


@router.post("/cases/{case_id}/risk", response_class=HTMLResponse)
@back_to("/staff/cases/{case_id}")
async def risk_save(request: Request, staff: Staff, case_id: str) -> Response:
    form = await check_form(request)
    instance = instance_of(request)
    answers = {item.id: str(form.get(f"q-{item.id}", ""))
               for item in casework.load_checklist(instance).items
               if form.get(f"q-{item.id}")}
    try:
        result = casework.save_risk_assessment(
            instance, staff.user, case_id, answers,
            judgement=str(form.get("judgement", "")) or None,
            judgement_reason=str(form.get("judgement_reason", "")))
    except InvalidInput as exc:
        return _risk_page(request, case_id, error=str(exc), answers=answers,
                          status_code=400)
    return render_staff(request, "staff/risk_done.html", case_id=case_id, result=result,
                        marac_org=_first_org(request, staff, OrgKind.MARAC))


def _first_org(request: Request, staff: StaffRequest, kind: OrgKind) -> str:
    for org_id, _name, org_kind in disclosure.recipient_organisations(instance_of(request),
                                                                      staff.user):
        if org_kind == kind.value:
            return org_id
    return ""


# ---- disclosures ----------------------------------------------------------------------------


#: The facts a person states on the disclosure form, in plain words (the id in brackets).
_FLAG_WORDS = {
    "emergency": "There is an immediate risk to life",
    "harm_intelligence": "There is intelligence that she poses a risk of harm to a specific "
                         "person or group",
    "proceedings_ongoing": "Court proceedings are under way",
}


def _disclose_page(request: Request, staff: StaffRequest, case_id: str, *, error: str = "",
                   values: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    facts = provenance.case_facts(instance_of(request), staff.user, case_id)
    return render_staff(
        request, "staff/disclose.html", status_code=status_code, case_id=case_id, error=error,
        values=values or {}, orgs=disclosure.recipient_organisations(instance_of(request),
                                                                     staff.user),
        purposes=list(Purpose), categories=_DISCLOSABLE, evidences=list(StatusEvidence),
        flags=disclosure.CONTEXT_FLAGS, flag_words=_FLAG_WORDS,
        her_requests=facts.standing_requests, consents=facts.consents, **_LABELS)


@router.get("/cases/{case_id}/disclose", response_class=HTMLResponse)
@back_to("/staff/cases/{case_id}")
def disclose_form(request: Request, staff: Staff, case_id: str, recipient_org: str = "",
                  purpose: str = "", ask: str = "", category: str = "") -> Response:
    ensure_area(staff.user, StaffArea.CASEWORK)
    return _disclose_page(request, staff, case_id, values={
        "recipient_org": recipient_org, "purpose": purpose, "ask": ask,
        "category": category.split()})


@router.post("/cases/{case_id}/disclose", response_class=HTMLResponse)
@back_to("/staff/cases/{case_id}")
async def disclose(request: Request, staff: Staff, case_id: str) -> Response:
    form = await check_form(request)
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    fields["case_id"] = case_id
    categories = [str(c) for c in form.getlist("category")]
    flags = [str(f) for f in form.getlist("fact")]
    ensure_area(staff.user, StaffArea.CASEWORK)
    try:
        parsed = disclosure.parse_disclosure_form(fields, categories, flags)
    except InvalidInput as exc:
        return _disclose_page(request, staff, case_id, error=str(exc),
                              values=fields | {"category": categories, "fact": flags},
                              status_code=400)
    if fields.get("ask"):
        request_id = disclosure.answer_ask(instance_of(request), staff.user, fields["ask"],
                                           parsed)
    else:
        request_id = disclosure.request_disclosure(instance_of(request), staff.user, parsed)
    return RedirectResponse(f"/staff/disclosures/{request_id}", status_code=303)


@router.get("/disclosures/{request_id}", response_class=HTMLResponse)
@back_to("/staff/")
def disclosure_view(request: Request, staff: Staff, request_id: str) -> Response:
    instance = instance_of(request)
    view = disclosure.view_disclosure(instance, staff.user, request_id)
    justification = ""
    if view.has_justification and view.status is not disclosure.DisclosureStatus.RELEASED:
        try:
            justification = disclosure.justification_text(instance, staff.user, request_id)
        except AccessDenied as exc:
            justification = f"(withheld: {'; '.join(exc.reasons) or exc})"
    return render_staff(request, "staff/disclosure.html", view=view,
                        justification=justification, **_LABELS)


@router.post("/disclosures/{request_id}/justification")
@back_to("/staff/disclosures/{request_id}")
async def add_justification(request: Request, staff: Staff, request_id: str) -> Response:
    form = await check_form(request)
    disclosure.add_justification(instance_of(request), staff.user, request_id,
                                 str(form.get("justification", "")))
    return RedirectResponse(f"/staff/disclosures/{request_id}", status_code=303)


@router.post("/disclosures/{request_id}/retry")
@back_to("/staff/disclosures/{request_id}")
async def retry_release(request: Request, staff: Staff, request_id: str) -> Response:
    await check_form(request)
    disclosure.release_waiting(instance_of(request), staff.user, request_id)
    return RedirectResponse(f"/staff/disclosures/{request_id}", status_code=303)


@router.post("/disclosures/{request_id}/approve")
@back_to("/staff/disclosures/{request_id}")
async def approve(request: Request, staff: Staff, request_id: str) -> Response:
    await check_form(request)
    disclosure.approve(instance_of(request), staff.user, request_id)
    return RedirectResponse(f"/staff/disclosures/{request_id}", status_code=303)


def _workflow_step(step: Callable[..., None]) -> Callable[..., Any]:
    @back_to("/staff/disclosures/{request_id}")
    async def route(request: Request, staff: Staff, request_id: str) -> Response:
        form = await check_form(request)
        step(instance_of(request), staff.user, request_id, str(form.get("reason", "")))
        return RedirectResponse(f"/staff/disclosures/{request_id}", status_code=303)
    return route


router.add_api_route("/disclosures/{request_id}/refuse", _workflow_step(disclosure.refuse),
                     methods=["POST"])
router.add_api_route("/disclosures/{request_id}/send-back",
                     _workflow_step(disclosure.send_back), methods=["POST"])
router.add_api_route("/disclosures/{request_id}/withdraw", _workflow_step(disclosure.withdraw),
                     methods=["POST"])


@router.get("/approvals", response_class=HTMLResponse)
@back_to("/staff/")
def approvals(request: Request, staff: Staff) -> Response:
    ensure_area(staff.user, StaffArea.APPROVALS)
    waiting = disclosure.awaiting_approval(instance_of(request), staff.user)
    return render_staff(request, "staff/approvals.html", waiting=waiting)


# ---- inbox (police liaison and every recipient) ---------------------------------------------


@router.get("/inbox", response_class=HTMLResponse)
@back_to("/staff/")
def inbox(request: Request, staff: Staff) -> Response:
    ensure_area(staff.user, StaffArea.INBOX)
    items = disclosure.inbox(instance_of(request), staff.user)
    return render_staff(request, "staff/inbox.html", items=items, **_LABELS)


@router.get("/inbox/{request_id}", response_class=HTMLResponse)
@back_to("/staff/inbox")
def read_package(request: Request, staff: Staff, request_id: str) -> Response:
    ensure_area(staff.user, StaffArea.INBOX)
    try:
        package = disclosure.read_package(instance_of(request), staff.user, request_id)
    except disclosure.PackageExpired as exc:
        return render_staff(request, "staff/error.html", status_code=410, message=str(exc),
                            back="/staff/inbox")
    return render_staff(request, "staff/package.html", package=package, **_LABELS)


@router.post("/inbox/{request_id}/accept")
@back_to("/staff/inbox")
async def accept(request: Request, staff: Staff, request_id: str) -> Response:
    await check_form(request)
    ensure_area(staff.user, StaffArea.INBOX)
    case_id = disclosure.accept_package(instance_of(request), staff.user, request_id)
    return RedirectResponse(f"/staff/cases/{case_id}", status_code=303)


# ---- returns for funders and commissioners ---------------------------------------------------


def _return_of(request: Request, staff: StaffRequest, year: str, by: str) -> Any:
    from datetime import UTC, datetime

    from safereport.services import returns

    ensure_area(staff.user, StaffArea.APPROVALS)  # the supervisors of the organisation
    try:
        chosen = int(year) if year else datetime.now(UTC).year
    except ValueError as exc:
        raise InvalidInput("choose a year") from exc
    period = _enum(returns.Period, by) or returns.Period.QUARTER
    return returns.funders_return(instance_of(request), staff.user, year=chosen, period=period)


@router.get("/returns", response_class=HTMLResponse)
@back_to("/staff/")
def funders_return(request: Request, staff: Staff, year: str = "", by: str = "") -> Response:
    table = _return_of(request, staff, year, by)
    return render_staff(request, "staff/returns.html", table=table)


@router.get("/returns.csv")
@back_to("/staff/returns")
def funders_return_csv(request: Request, staff: Staff, year: str = "", by: str = "") -> Response:
    from safereport.services import returns

    table = _return_of(request, staff, year, by)
    name = f"return-{table.year}-{table.period.value}.csv"
    return Response(returns.to_csv(table), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ---- asks between organisations (police liaison) --------------------------------------------


def _asks_page(request: Request, staff: StaffRequest, *, error: str = "", notice: str = "",
               status_code: int = 200) -> HTMLResponse:
    instance = instance_of(request)
    received, sent = disclosure.asks(instance, staff.user)
    holders = [o for o in disclosure.recipient_organisations(instance, staff.user)
               if o[2] in (OrgKind.SUPPORT_SERVICE.value, OrgKind.POLICE.value)]
    return render_staff(request, "staff/asks.html", status_code=status_code, received=received,
                        sent=sent, holders=holders, purposes=list(Purpose),
                        categories=_DISCLOSABLE, error=error, notice=notice, **_LABELS)


@router.post("/asks/{ask_id}/decline", response_class=HTMLResponse)
@back_to("/staff/asks")
async def decline_ask(request: Request, staff: Staff, ask_id: str) -> Response:
    form = await check_form(request)
    ensure_area(staff.user, StaffArea.CASEWORK)
    try:
        disclosure.decline_ask(instance_of(request), staff.user, ask_id,
                               str(form.get("reason", "")))
    except NotFound:
        raise  # the error page (404), not the asks page
    except InvalidInput as exc:
        return _asks_page(request, staff, error=str(exc), status_code=400)
    return _asks_page(request, staff, notice="Declined. The organisation that asked sees "
                      "that, with your reason.")


@router.get("/asks", response_class=HTMLResponse)
@back_to("/staff/")
def asks(request: Request, staff: Staff) -> Response:
    ensure_area(staff.user, StaffArea.CASEWORK)
    return _asks_page(request, staff)


@router.post("/asks", response_class=HTMLResponse)
@back_to("/staff/asks")
async def ask(request: Request, staff: Staff) -> Response:
    form = await check_form(request)
    ensure_area(staff.user, StaffArea.CASEWORK)
    purpose = _enum(Purpose, str(form.get("purpose", "")))
    if purpose is None:
        return _asks_page(request, staff, error="Choose a purpose.", status_code=400)
    try:
        categories = [DataCategory(str(c)) for c in form.getlist("category")]
        disclosure.ask_for_disclosure(
            instance_of(request), staff.user, holder_org_id=str(form.get("holder", "")),
            reference=str(form.get("reference", "")), purpose=purpose,
            categories=categories)
    except (InvalidInput, ValueError) as exc:
        return _asks_page(request, staff, error=str(exc), status_code=400)
    return _asks_page(request, staff, notice="Sent. The holder decides through its own "
                      "disclosure workflow; you will find any release in your inbox.")
