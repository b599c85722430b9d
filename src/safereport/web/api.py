"""The integration API (issue 20): JSON over HTTP under ``/api/v1`` for police systems and
third-party reporting centres, described by an OpenAPI 3.1 document at
``/api/v1/openapi.json`` (generated from these routes and their models).

A thin adapter: each route checks the bearer token and its scope
(:mod:`safereport.services.integrations`) and calls the same services the staff pages use, so
the guard decides and the ledger records every access, with ``automated`` true. Every refusal
is a JSON object ``{"error": <code>, "message": <text>}`` with its status (401 no or bad token,
403 a scope or the policy says no, 404 not found or not yours, 410 expired, 413 too large, 422
invalid, 429 over the token's rate); never a page, never a server error for bad input.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from safereport.domain.fields import MAX_FIELD_CHARS, CaseField
from safereport.domain.vocabulary import (
    CrimeType,
    DataCategory,
    Purpose,
    Recipient,
    StatusEvidence,
    SubjectRole,
)
from safereport.errors import AccessDenied, InstanceError, InvalidInput, SafeReportError
from safereport.services import disclosure, integrations
from safereport.services.intake import CONSENT_CHOICES, SUBMISSION_SCHEMA, InvalidReport
from safereport.services.integrations import Integration, IntegrationRefused, Refusal, Scope

__all__ = ["PREFIX", "STATUS", "create_api", "mount_api"]

PREFIX = "/api/v1"

#: The HTTP status of each refusal.
STATUS: dict[Refusal, int] = {
    Refusal.ACCESS_DENIED: 403,
    Refusal.EXPIRED: 410,
    Refusal.FORBIDDEN_SCOPE: 403,
    Refusal.INVALID_REQUEST: 422,
    Refusal.NOT_FOUND: 404,
    Refusal.RATE_LIMITED: 429,
    Refusal.TOKEN_REVOKED: 401,
    Refusal.UNAUTHORIZED: 401,
    Refusal.UNAVAILABLE: 503,
}
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


# ---- models ---------------------------------------------------------------------------------


def _readable(value: str) -> str:
    """Refuse what is not text: NUL and other control characters, lone surrogates."""
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value) or any(
        unicodedata.category(ch) == "Cc" and ch not in "\n\t\r" for ch in value
    ):
        raise ValueError("holds a character that is not readable text")
    return value


def _utc(moment: datetime) -> datetime:
    """Times as UTC with their zone (SQLite hands back naive ones, stored as UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _text(max_length: int) -> Any:
    return Annotated[str, Field(max_length=max_length), AfterValidator(_readable)]


Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ShortText = _text(300)
LongText = _text(MAX_FIELD_CHARS)
Narrative = Annotated[str, Field(min_length=1, max_length=MAX_FIELD_CHARS),
                      AfterValidator(_readable)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(_Model):
    error: str = Field(description="a stable code: " + ", ".join(sorted(
        {r.value for r in Refusal} | set(_HTTP_CODES.values()) | {"internal_error"})))
    message: str
    problems: dict[str, str] | None = Field(
        default=None, description="for invalid_request: each field at fault, and why")


class ConsentIn(_Model):
    recipient: Literal[tuple(sorted({r.value for r, _ in CONSENT_CHOICES}))]  # type: ignore[valid-type]
    purpose: Literal[tuple(sorted({p.value for _, p in CONSENT_CHOICES}))]  # type: ignore[valid-type]


#: What is known of her, field by field (those of the staff form); only her account is needed.
ThirdPartyFields: Any = create_model(  # type: ignore[call-overload]
    "ThirdPartyFields", __base__=_Model,
    **{f.value: ((Narrative, ...) if f is CaseField.NARRATIVE else (LongText | None, None))
       for f in integrations.THIRD_PARTY_FIELDS})


class ThirdPartyIn(_Model):
    crime_type: CrimeType
    subject_role: Literal["victim", "witness"] = "victim"
    fields: ThirdPartyFields
    consents: list[ConsentIn] = Field(
        default_factory=list, max_length=10,
        description="consents she gave in person: recorded, and counting only once a "
                    "colleague at the service confirms them")
    language: Annotated[str, Field(min_length=2, max_length=8, pattern=r"^[a-z]{2,3}$")] = "en"


class ThirdPartyOut(_Model):
    case_id: str
    reference: str
    claim_code: str = Field(description="give it to her: she claims the report with it")


class ReportOut(_Model):
    reference: str
    codename: str | None = Field(description="codename reports only: shown once, never kept")
    ledger_index: int | None = Field(description="the entry that recorded it (its receipt)")


class InboxItemOut(_Model):
    request_id: str
    sender: str
    purpose: Purpose
    categories: list[DataCategory]
    received_at: datetime
    expires_at: datetime
    expired: bool
    accepted_case_id: str | None


class PackageOut(_Model):
    request_id: str
    sender: str
    reference: str
    purpose: Purpose
    recipient: Recipient
    categories: list[DataCategory]
    received_at: datetime
    expires_at: datetime
    may_do: list[str]
    fields: dict[str, str]
    withheld: dict[str, str]
    rules: list[str]
    ledger_index: int


class AskIn(_Model):
    holder_org_id: Id
    reference: Annotated[str, Field(min_length=1, max_length=40), AfterValidator(_readable)]
    purpose: Purpose
    categories: list[DataCategory] = Field(min_length=1, max_length=len(DataCategory))


class AskOut(_Model):
    id: str
    to_org: str
    reference: str
    purpose: Purpose
    categories: list[DataCategory]
    status: str
    outcome: str
    reasons: list[str]
    created_at: datetime


class DisclosureIn(_Model):
    case_id: Id
    recipient_org_id: Id
    purpose: Purpose
    categories: list[DataCategory] = Field(min_length=1, max_length=len(DataCategory))
    status_evidence: StatusEvidence = StatusEvidence.NONE
    facts: list[Literal[disclosure.CONTEXT_FLAGS]] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=len(disclosure.CONTEXT_FLAGS),
        description="facts the integration states; consent and her own request are read from "
                    "her record, never stated")
    justification: _text(disclosure.MAX_JUSTIFICATION_CHARS) = ""  # type: ignore[valid-type]
    victim_request_id: Annotated[str, Field(pattern=r"^([0-9a-f]{32})?$")] = ""


class DisclosureOut(_Model):
    id: str
    case_id: str
    reference: str
    recipient_org: str
    recipient: Recipient
    purpose: Purpose
    categories: list[DataCategory]
    effect: str
    obligations: list[str]
    rules: list[str]
    reasons: list[str]
    status: str
    outstanding: list[str]
    created_at: datetime


class OrganisationOut(_Model):
    id: str
    name: str
    kind: str


class EntryOut(_Model):
    index: int
    time: datetime
    case_id: str | None
    action: str
    purpose: str
    recipient: str
    effect: str
    rules: list[str]


class ReceiptOut(_Model):
    index: int
    proof: str = Field(description="a C2SP tlog-proof carrying the entry; check it offline "
                                   "with `safereport ledger check-proof`")


# ---- errors ---------------------------------------------------------------------------------


def _error(status: int, code: str, message: str, *, problems: Mapping[str, str] | None = None,
           headers: Mapping[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if problems:
        body["problems"] = dict(problems)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _refused(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, IntegrationRefused)
    headers = {}
    if exc.refusal in (Refusal.UNAUTHORIZED, Refusal.TOKEN_REVOKED):
        headers["WWW-Authenticate"] = 'Bearer realm="safereport"'
    if exc.refusal is Refusal.RATE_LIMITED:
        headers["Retry-After"] = "60"
    return _error(STATUS[exc.refusal], exc.refusal.value, str(exc), headers=headers)


def _invalid_report(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidReport)
    return _error(422, Refusal.INVALID_REQUEST.value, "the report was not saved",
                  problems={k: v.value for k, v in exc.problems.items()})


def _safereport_error(_: Request, exc: Exception) -> Response:
    if isinstance(exc, AccessDenied):
        message = "; ".join(exc.reasons) if exc.reasons else str(exc)
        return _error(403, Refusal.ACCESS_DENIED.value, message or "access denied")
    if isinstance(exc, InvalidInput):
        return _error(422, Refusal.INVALID_REQUEST.value, str(exc))
    if isinstance(exc, InstanceError):
        return _error(503, Refusal.UNAVAILABLE.value, str(exc))
    return _error(500, "internal_error", "the request could not be completed")


def _validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems: dict[str, str] = {}
    for item in exc.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
        problems.setdefault(where[:80], str(item.get("msg", "invalid"))[:200])
    return _error(422, Refusal.INVALID_REQUEST.value, "the request is not valid",
                  problems=problems)


def _http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "the request was refused"
    return _error(exc.status_code, code, detail, headers=exc.headers)


def _unexpected(_: Request, exc: Exception) -> Response:
    return _error(500, "internal_error", "the request could not be completed")


# ---- the caller -----------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="a token from `safereport api token add`")


def _instance(request: Request) -> Any:
    instance = getattr(request.app.state, "instance", None)
    if instance is None:
        raise IntegrationRefused(Refusal.UNAVAILABLE, "no instance is served here")
    return instance


def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Integration:
    secret = credentials.credentials if credentials is not None else None
    return integrations.authenticate(_instance(request), secret)


def _allowed(scope: Scope) -> Callable[..., Integration]:
    # The token and its scope are checked in one dependency, not one depending on the other:
    # FastAPI runs each plain ``def`` dependency in a trip of its own to its threadpool.
    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Integration:
        caller = _caller(request, credentials)
        operation = f"{request.method} {request.url.path}"
        integrations.require_scope(_instance(request), caller, scope, operation)
        return caller
    return dependency


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in ((401, "no token, an unknown one or a revoked one"),
                         (403, "outside the token's scopes, or refused by the policy"),
                         (413, "the body is too large"),
                         (422, "the request is not valid"),
                         (429, "over the token's calls per minute"))
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no such thing held by this organisation"}}


def create_api(instance: Any) -> FastAPI:
    """The ``/api/v1`` application (mounted by :func:`mount_api`)."""
    api = FastAPI(
        title="safereport integration API",
        version="1",
        description="For police systems and third-party reporting centres. Every call needs "
                    "a bearer token; every access to case data is decided by the policy and "
                    "recorded in the ledger as automated. See docs/api.md.",
        openapi_url="/openapi.json", docs_url=None, redoc_url=None,
        responses=_ERRORS,
    )
    api.state.instance = instance
    api.add_exception_handler(IntegrationRefused, _refused)
    api.add_exception_handler(InvalidReport, _invalid_report)
    api.add_exception_handler(SafeReportError, _safereport_error)
    api.add_exception_handler(RequestValidationError, _validation)
    api.add_exception_handler(StarletteHTTPException, _http)
    api.add_exception_handler(Exception, _unexpected)
    _routes(api)
    return api


def mount_api(app: FastAPI, instance: Any) -> None:
    """Serve the API under :data:`PREFIX` of ``app``."""
    app.mount(PREFIX, create_api(instance))


def _routes(api: FastAPI) -> None:
    @api.get("/organisations", response_model=list[OrganisationOut],
             summary="Other organisations (holders and recipients), for asks and disclosures")
    def organisations(request: Request,
                      caller: Annotated[Integration, Depends(_caller)]) -> Any:
        found = disclosure.recipient_organisations(_instance(request), caller.user)
        return [OrganisationOut(id=i, name=n, kind=k) for i, n, k in found]

    @api.post("/reports", status_code=201, response_model=ReportOut,
              summary="Submit a report, as the victim's own form takes it",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": SUBMISSION_SCHEMA["$defs"]["submission"]}}}})
    async def submit_report(
        request: Request,
        caller: Annotated[Integration, Depends(_allowed(Scope.REPORTS_SUBMIT))],
    ) -> Any:
        raw = await request.body()
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput("the body is not JSON") from exc
        receipt = await run_in_threadpool(
            integrations.submit_report, _instance(request), caller, data)
        return ReportOut(reference=receipt.reference, codename=receipt.codename,
                         ledger_index=receipt.ledger_index)

    @api.post("/third-party-reports", status_code=201, response_model=ThirdPartyOut,
              summary="File a report on a victim's behalf (she claims it with the claim code)")
    def file_third_party(
        request: Request, body: ThirdPartyIn,
        caller: Annotated[Integration, Depends(_allowed(Scope.THIRD_PARTY_FILE))],
    ) -> Any:
        filed = integrations.file_third_party(
            _instance(request), caller, crime_type=body.crime_type,
            subject_role=SubjectRole(body.subject_role),
            values={k: v for k, v in body.fields.model_dump().items() if v is not None},
            consents_given=[(Recipient(c.recipient), Purpose(c.purpose))
                            for c in body.consents],
            language=body.language)
        return ThirdPartyOut(case_id=filed.case_id, reference=filed.reference,
                             claim_code=filed.claim_code)

    @api.get("/inbox", response_model=list[InboxItemOut],
             summary="Referrals and disclosures released to the organisation (no contents)")
    def inbox(request: Request,
              caller: Annotated[Integration, Depends(_allowed(Scope.INBOX_READ))]) -> Any:
        return [InboxItemOut(request_id=i.request_id, sender=i.sender, purpose=i.purpose,
                             categories=list(i.categories), received_at=_utc(i.received_at),
                             expires_at=_utc(i.expires_at), expired=i.expired,
                             accepted_case_id=i.accepted_case_id)
                for i in integrations.inbox(_instance(request), caller)]

    @api.get("/inbox/{request_id}", response_model=PackageOut, responses=_NOT_FOUND | {
             410: {"model": ErrorOut, "description": "the package has expired"}},
             summary="Read one package, decided again by the policy and recorded now")
    def read_package(request: Request, request_id: Annotated[Id, Path()],
                     caller: Annotated[Integration, Depends(_allowed(Scope.INBOX_READ))]) -> Any:
        p = integrations.read_package(_instance(request), caller, request_id)
        return PackageOut(request_id=p.request_id, sender=p.sender, reference=p.reference,
                          purpose=p.purpose, recipient=p.recipient,
                          categories=list(p.categories), received_at=_utc(p.received_at),
                          expires_at=_utc(p.expires_at), may_do=list(p.may_do),
                          fields={k.value: v for k, v in p.values.items()},
                          withheld={k.value: v for k, v in p.withheld.items()},
                          rules=list(p.rules), ledger_index=p.ledger_index)

    def ask_out(a: disclosure.AskView) -> AskOut:
        return AskOut(id=a.id, to_org=a.to_org, reference=a.reference, purpose=a.purpose,
                      categories=list(a.categories), status=a.status, outcome=a.outcome,
                      reasons=list(a.reasons), created_at=_utc(a.created_at))

    @api.post("/disclosure-asks", status_code=201, response_model=AskOut,
              summary="Ask the organisation holding a case to consider a disclosure to yours")
    def ask(request: Request, body: AskIn,
            caller: Annotated[Integration, Depends(_allowed(Scope.DISCLOSURES_REQUEST))]) -> Any:
        return ask_out(integrations.ask(
            _instance(request), caller, holder_org_id=body.holder_org_id,
            reference=body.reference, purpose=body.purpose, categories=body.categories))

    @api.get("/disclosure-asks", response_model=list[AskOut],
             summary="The organisation's asks, each with its outcome")
    def asks(request: Request,
             caller: Annotated[Integration, Depends(_allowed(Scope.DISCLOSURES_READ))]) -> Any:
        return [ask_out(a) for a in integrations.asks_sent(_instance(request), caller)]

    @api.get("/disclosure-asks/{ask_id}", response_model=AskOut, responses=_NOT_FOUND,
             summary="One ask and its outcome")
    def one_ask(request: Request, ask_id: Annotated[Id, Path()],
                caller: Annotated[Integration, Depends(_allowed(Scope.DISCLOSURES_READ))]) -> Any:
        return ask_out(integrations.asks_sent(_instance(request), caller, ask_id)[0])

    def disclosure_out(v: disclosure.DisclosureView) -> DisclosureOut:
        return DisclosureOut(id=v.id, case_id=v.case_id, reference=v.reference,
                             recipient_org=v.recipient_org, recipient=v.recipient,
                             purpose=v.purpose, categories=list(v.categories),
                             effect=v.effect.value, obligations=[o.value for o in v.obligations],
                             rules=list(v.rules), reasons=list(v.reasons),
                             status=v.status.value, outstanding=list(v.outstanding),
                             created_at=_utc(v.created_at))

    @api.post("/disclosures", status_code=201, response_model=DisclosureOut,
              responses=_NOT_FOUND,
              summary="Request a disclosure of a case the organisation holds")
    def request_disclosure(
        request: Request, body: DisclosureIn,
        caller: Annotated[Integration, Depends(_allowed(Scope.DISCLOSURES_REQUEST))],
    ) -> Any:
        form = disclosure.parse_disclosure_form(
            {"case_id": body.case_id, "recipient_org": body.recipient_org_id,
             "purpose": body.purpose.value, "status_evidence": body.status_evidence.value,
             "justification": body.justification, "victim_request": body.victim_request_id},
            [c.value for c in body.categories], body.facts)
        return disclosure_out(integrations.request_disclosure(_instance(request), caller, form))

    @api.get("/disclosures/{request_id}", response_model=DisclosureOut, responses=_NOT_FOUND,
             summary="A disclosure request and its outcome (decision, reasons, what is owed)")
    def view_disclosure(
        request: Request, request_id: Annotated[Id, Path()],
        caller: Annotated[Integration, Depends(_allowed(Scope.DISCLOSURES_READ))],
    ) -> Any:
        return disclosure_out(integrations.view_disclosure(_instance(request), caller,
                                                           request_id))

    @api.get("/ledger/entries", response_model=list[EntryOut],
             summary="The ledger entries this integration made, oldest first")
    def entries(
        request: Request,
        caller: Annotated[Integration, Depends(_allowed(Scope.LEDGER_PROOF))],
        after: Annotated[int, Query(ge=-1, le=2**62)] = -1,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Any:
        return [EntryOut(index=e.index, time=_utc(e.time), case_id=e.case_id, action=e.action,
                         purpose=e.purpose, recipient=e.recipient, effect=e.effect,
                         rules=list(e.rules))
                for e in integrations.own_entries(_instance(request), caller, after=after,
                                                  limit=limit)]

    @api.get("/ledger/entries/{index}/proof", response_model=ReceiptOut, responses=_NOT_FOUND,
             summary="A receipt (C2SP tlog-proof with the entry) for one of its own entries")
    def proof(
        request: Request, index: Annotated[int, Path(ge=0, le=2**62)],
        caller: Annotated[Integration, Depends(_allowed(Scope.LEDGER_PROOF))],
    ) -> Any:
        return ReceiptOut(index=index,
                          proof=integrations.receipt(_instance(request), caller, index))
