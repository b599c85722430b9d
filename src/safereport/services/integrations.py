"""Integrations: the systems of police forces and third-party reporting centres (issue 20).

An integration calls the JSON API (``web/api.py``) with a bearer token. A token is

* a random secret shown once (``safereport api token add``) and kept only as its SHA-256;
* tied to a service account: a row of ``users`` in one organisation with one role, which can
  never sign in (no password verifies, and it is inactive), so every row that names who did
  something (a filed report, an ask) names it like any member of staff;
* scoped to a set of operations (:class:`Scope`), refused on record outside them;
* revocable (``safereport api token revoke``), refused from the next call on;
* rate-limited per token: at most ``rate_per_minute`` calls in each minute, counted in the
  database so that every worker sees the same count.

Every operation goes through the services the staff pages use (intake, third-party filing,
disclosure), so the guard decides and the ledger records each access; the service account's
:class:`~safereport.services.auth.StaffUser` has ``system`` set, so every decision is
``automated`` (POLICY.md v2: no person decides). A refusal for a scope the token lacks is a
denial on record too. A call without a valid token, or over the rate, is refused before any
of that and is not written to the ledger (nobody stands behind it, and recording each would
let anyone fill the log).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from safereport.domain.case import new_id
from safereport.domain.fields import CaseField
from safereport.domain.vocabulary import (
    ActorRole,
    CrimeType,
    DataCategory,
    OrgKind,
    Purpose,
    Recipient,
    SubjectRole,
)
from safereport.errors import InvalidInput, LedgerError, NotFound, SafeReportError
from safereport.ledger.record import parse_leaf
from safereport.ledger.verifier import TlogProof, format_proof, parse_proof
from safereport.ledger.witness_client import cosigned_proof
from safereport.services import casework, disclosure, intake
from safereport.services.access import Actor, record_failure
from safereport.services.auth import INTEGRATION_ACCOUNT_PREFIX, StaffUser, create_user
from safereport.services.instance import Instance
from safereport.services.users import find_org
from safereport.store.accounts import org_kind_by_id, set_active
from safereport.store.api_tokens import (
    count_call,
    insert_token,
    revocation_of,
    revoke,
    token_by_hash,
    token_name_taken,
    tokens,
)
from safereport.store.ledger import entries_by_actor
from safereport.store.provenance import FactSource

__all__ = [
    "DEFAULT_RATE_PER_MINUTE",
    "INTEGRATION_ROLES",
    "THIRD_PARTY_FIELDS",
    "TOKEN_PREFIX",
    "Integration",
    "IntegrationRefused",
    "OwnEntry",
    "Refusal",
    "Scope",
    "TokenInfo",
    "add_token",
    "ask",
    "asks_sent",
    "authenticate",
    "file_third_party",
    "hash_token",
    "inbox",
    "list_tokens",
    "own_entries",
    "read_package",
    "receipt",
    "request_disclosure",
    "require_scope",
    "revoke_token",
    "submit_report",
    "view_disclosure",
]


class Scope(StrEnum):
    """The operations a token may be allowed, one per kind of call."""

    DISCLOSURES_READ = "disclosures:read"
    DISCLOSURES_REQUEST = "disclosures:request"
    INBOX_READ = "inbox:read"
    LEDGER_PROOF = "ledger:proof"
    REPORTS_SUBMIT = "reports:submit"
    THIRD_PARTY_FILE = "third_party:file"


class Refusal(StrEnum):
    """Why a call was refused, as the API names it (``{"error": ...}``)."""

    ACCESS_DENIED = "access_denied"
    EXPIRED = "expired"
    FORBIDDEN_SCOPE = "forbidden_scope"
    INVALID_REQUEST = "invalid_request"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    TOKEN_REVOKED = "token_revoked"
    UNAUTHORIZED = "unauthorized"
    UNAVAILABLE = "unavailable"


class IntegrationRefused(SafeReportError):
    """A call refused before (or instead of) a service: ``refusal`` says which kind."""

    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal


#: Roles a service account may hold: systems and the roles of staff who file, ask and read
#: their organisation's inbox. Never an administrator, auditor or analyst, and never a
#: supervisor (approvals are a person's decision).
INTEGRATION_ROLES: tuple[ActorRole, ...] = (
    ActorRole.CASEWORKER,
    ActorRole.IMMIGRATION_OFFICER,
    ActorRole.MARAC_MEMBER,
    ActorRole.POLICE_OFFICER,
    ActorRole.POLICE_SYSTEM,
)
DEFAULT_RATE_PER_MINUTE = 60
MAX_RATE_PER_MINUTE = 6000
TOKEN_PREFIX = "srk_"
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,59}")
#: A password hash no password verifies (not a PHC string): the account never signs in.
_NO_PASSWORD = "!integration-account"
#: The fields a third-party filing may carry (those of the staff form).
THIRD_PARTY_FIELDS: tuple[CaseField, ...] = (
    CaseField.NAME, CaseField.PHONE, CaseField.EMAIL, CaseField.ADDRESS, CaseField.SAFE_CONTACT,
    CaseField.OCCURRED, CaseField.LOCATION, CaseField.NARRATIVE, CaseField.NATIONALITY,
    CaseField.IMMIGRATION_STATUS,
)
#: Who manages tokens: the operator at the command line (as for staff accounts).
_OPERATOR = Actor(id="operator:cli", role=ActorRole.ADMIN)


def _now(now: datetime | None = None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def hash_token(secret: str) -> str:
    """What is kept of a token: the hex SHA-256 of its secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


# ---- managing tokens (the CLI) --------------------------------------------------------------


@dataclass(frozen=True)
class TokenInfo:
    name: str
    org_name: str
    org_kind: str
    role: str
    scopes: tuple[str, ...]
    rate_per_minute: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _scopes(values: Iterable[str]) -> tuple[Scope, ...]:
    chosen = []
    for value in values:
        try:
            chosen.append(Scope(value))
        except ValueError as exc:
            known = ", ".join(s.value for s in Scope)
            raise InvalidInput(f"unknown scope {value!r} (one of: {known})") from exc
    if not chosen:
        raise InvalidInput("give the token at least one scope")
    return tuple(sorted(set(chosen)))


def add_token(
    instance: Instance,
    *,
    name: str,
    org: str,
    role: ActorRole | str,
    scopes: Iterable[str],
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE,
    now: datetime | None = None,
) -> tuple[TokenInfo, str]:
    """Make a token for one integration; returns it and its secret (shown once, never kept)."""
    if not _NAME.fullmatch(name):
        raise InvalidInput("a token name is 1 to 60 characters: a-z, 0-9, '.', '_' or '-'")
    try:
        actor_role = ActorRole(role)
    except ValueError as exc:
        raise InvalidInput(f"unknown role {role!r}") from exc
    if actor_role not in INTEGRATION_ROLES:
        allowed = ", ".join(r.value for r in INTEGRATION_ROLES)
        raise InvalidInput(f"an integration cannot act as {actor_role.value} (one of: {allowed})")
    chosen = _scopes(scopes)
    if not 1 <= rate_per_minute <= MAX_RATE_PER_MINUTE:
        raise InvalidInput(f"the rate is 1 to {MAX_RATE_PER_MINUTE} calls a minute")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    moment = _now(now)
    with instance.engine.begin() as conn:
        found = find_org(conn, org) or _org_by_id(conn, org)
        if found is None:
            raise InvalidInput(f"no organisation {org!r} (see `safereport org list`)")
        if token_name_taken(conn, name):
            raise InvalidInput(f"a token named {name!r} exists already (revoke it, or pick "
                               "another name)")
        user_id = create_user(conn, org_id=found[0], username=INTEGRATION_ACCOUNT_PREFIX + name,
                              display_name=f"Integration {name}", role=actor_role,
                              password="", password_hash=_NO_PASSWORD, now=moment)
        set_active(conn, user_id, False)  # never signs in: only its token acts for it
        insert_token(conn, id=new_id(), name=name, user_id=user_id,
                     token_hash=hash_token(secret), scopes=" ".join(s.value for s in chosen),
                     rate_per_minute=rate_per_minute, created_at=moment)
        # On record with the change (a step that opens no case data: ``deny`` says so).
        record_failure(instance, _OPERATOR, None, None, "api_token_added", conn=conn, detail={
            "token": name, "account": f"user:{user_id}", "role": actor_role.value,
            "org_kind": found[1].value, "scopes": " ".join(s.value for s in chosen)})
    info = next(t for t in list_tokens(instance) if t.name == name)
    return info, secret


def _org_by_id(conn: Connection, org_id: str) -> tuple[str, OrgKind] | None:
    kind = org_kind_by_id(conn, org_id)
    return (org_id, OrgKind(kind)) if kind is not None else None


def list_tokens(instance: Instance) -> list[TokenInfo]:
    """Every token, revoked ones too (never a secret, nor its hash)."""
    with instance.engine.connect() as conn:
        rows = tokens(conn)
    return [TokenInfo(r.name, r.org_name, r.org_kind, r.role, tuple(r.scopes.split()),
                      r.rate_per_minute, r.created_at, r.last_used_at, r.revoked_at)
            for r in rows]


def revoke_token(instance: Instance, name: str, *, now: datetime | None = None) -> bool:
    """Revoke a token: refused from its next call on. False if it was revoked already."""
    with instance.engine.begin() as conn:
        row = revocation_of(conn, name)
        if row is None:
            raise InvalidInput(f"no token named {name!r} (see `safereport api token list`)")
        if row.revoked_at is not None:
            return False
        revoke(conn, name, _now(now))
        record_failure(instance, _OPERATOR, None, None, "api_token_revoked", conn=conn,
                       detail={"token": name})
    return True


# ---- a call -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Integration:
    """Who is calling: the token's name, scopes and service account."""

    name: str
    user: StaffUser
    scopes: frozenset[Scope]
    rate_per_minute: int

    @property
    def actor_id(self) -> str:
        return casework.actor_for(self.user).id


def authenticate(instance: Instance, secret: str | None, *,
                 now: datetime | None = None) -> Integration:
    """The integration behind a bearer token, counted against its rate; or a refusal."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise IntegrationRefused(Refusal.UNAUTHORIZED,
                                 "send a valid token: Authorization: Bearer <token>")
    moment = _now(now)
    wanted = hash_token(secret)
    with instance.engine.begin() as conn:
        row = token_by_hash(conn, wanted)
        if row is None or not hmac.compare_digest(row.token_hash, wanted):
            raise IntegrationRefused(Refusal.UNAUTHORIZED,
                                     "send a valid token: Authorization: Bearer <token>")
        if row.revoked_at is not None:
            raise IntegrationRefused(Refusal.TOKEN_REVOKED, "this token has been revoked")
        count = count_call(conn, row.id, int(moment.timestamp()) // 60, moment)
    if count > row.rate_per_minute:
        raise IntegrationRefused(
            Refusal.RATE_LIMITED,
            f"this token may make {row.rate_per_minute} calls a minute; wait for the next minute")
    user = StaffUser(id=row.user_id, org_id=row.org_id, org_kind=OrgKind(row.org_kind),
                     org_name=row.org_name, username=row.username,
                     display_name=row.display_name, role=ActorRole(row.role),
                     totp_enrolled=False, system=True)
    return Integration(row.name, user, frozenset(Scope(s) for s in row.scopes.split()
                                                 if s in set(Scope)), row.rate_per_minute)


def require_scope(instance: Instance, integration: Integration, scope: Scope,
                  operation: str) -> None:
    """Refuse, on record, an operation outside the token's scopes."""
    if scope in integration.scopes:
        return
    record_failure(instance, casework.actor_for(integration.user), None, None, "scope_refused",
                   detail={"event": "api_call", "operation": operation[:60],
                           "scope": scope.value})
    raise IntegrationRefused(Refusal.FORBIDDEN_SCOPE,
                             f"this token is not allowed {scope.value} ({operation})")


def _not_found(exc: InvalidInput) -> InvalidInput | IntegrationRefused:
    if isinstance(exc, NotFound):  # a case, package, request or ask not held: one answer
        return IntegrationRefused(Refusal.NOT_FOUND, str(exc))
    if isinstance(exc, disclosure.PackageExpired):
        return IntegrationRefused(Refusal.EXPIRED, str(exc))
    return exc


# ---- the operations -------------------------------------------------------------------------


def submit_report(instance: Instance, integration: Integration,
                  data: Mapping[str, Any]) -> intake.IntakeReceipt:
    """A report as the victim's own form takes it, brought by an integration (an import: her
    consents in it are kept but count only once she confirms them through her own door)."""
    submission = intake.parse_submission(data)
    return intake.submit_report(instance, submission, door=FactSource.IMPORT,
                                via=integration.actor_id)


def file_third_party(
    instance: Instance,
    integration: Integration,
    *,
    crime_type: CrimeType,
    subject_role: SubjectRole,
    values: Mapping[str, str],
    consents_given: Iterable[tuple[Recipient, Purpose]] = (),
    language: str = "en",
) -> casework.FiledReport:
    """A report filed on the victim's behalf (she claims it with the claim code)."""
    if subject_role is SubjectRole.SUSPECT:
        raise InvalidInput("a third-party report is about a victim or a witness")
    unknown = set(values) - {f.value for f in THIRD_PARTY_FIELDS}
    if unknown:
        raise InvalidInput("unknown field: " + ", ".join(sorted(unknown)))
    choices = set(intake.CONSENT_CHOICES)
    if not set(consents_given) <= choices:
        raise InvalidInput("a consent is one of the pairs a victim can give")
    return casework.file_third_party_report(
        instance, integration.user, crime_type=crime_type, subject_role=subject_role,
        values={CaseField(k): v for k, v in values.items()}, consents_given=consents_given,
        language=language)


def inbox(instance: Instance, integration: Integration) -> list[disclosure.InboxItem]:
    """Packages released to the integration's organisation (what and from whom only)."""
    return disclosure.inbox(instance, integration.user)


def read_package(instance: Instance, integration: Integration,
                 request_id: str) -> disclosure.PackageView:
    """One package, opened under a decision taken and recorded now."""
    try:
        return disclosure.read_package(instance, integration.user, request_id)
    except InvalidInput as exc:
        raise _not_found(exc) from exc


def ask(instance: Instance, integration: Integration, *, holder_org_id: str, reference: str,
        purpose: Purpose, categories: Iterable[DataCategory]) -> disclosure.AskView:
    """Ask a holder to consider disclosing a case to the integration's organisation."""
    ask_id = disclosure.ask_for_disclosure(
        instance, integration.user, holder_org_id=holder_org_id, reference=reference,
        purpose=purpose, categories=categories)
    return asks_sent(instance, integration, ask_id)[0]


def asks_sent(instance: Instance, integration: Integration,
              ask_id: str | None = None) -> list[disclosure.AskView]:
    """The organisation's asks with their outcomes (one, by id, on record if not its own)."""
    _, sent = disclosure.asks(instance, integration.user)
    if ask_id is None:
        return sent
    found = [a for a in sent if a.id == ask_id]
    if not found:
        record_failure(instance, casework.actor_for(integration.user), None, None,
                       "ask_not_held", detail={"event": "ask_view"})
        raise IntegrationRefused(Refusal.NOT_FOUND, "no such ask")
    return found


def request_disclosure(instance: Instance, integration: Integration,
                       form: disclosure.DisclosureForm) -> disclosure.DisclosureView:
    """A disclosure of a case the organisation holds, through the whole workflow."""
    try:
        request_id = disclosure.request_disclosure(instance, integration.user, form)
    except InvalidInput as exc:
        raise _not_found(exc) from exc
    return view_disclosure(instance, integration, request_id)


def view_disclosure(instance: Instance, integration: Integration,
                    request_id: str) -> disclosure.DisclosureView:
    try:
        return disclosure.view_disclosure(instance, integration.user, request_id)
    except InvalidInput as exc:
        raise _not_found(exc) from exc


# ---- ledger receipts ------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnEntry:
    index: int
    time: datetime
    case_id: str | None
    action: str
    purpose: str
    recipient: str
    effect: str
    rules: tuple[str, ...]


def own_entries(instance: Instance, integration: Integration, *, after: int = -1,
                limit: int = 100) -> list[OwnEntry]:
    """The ledger entries whose actor is the integration, oldest first, after ``after``."""
    with instance.engine.connect() as conn:
        rows = entries_by_actor(conn, integration.actor_id, after, max(1, min(limit, 1000)))
    return [OwnEntry(r.idx, r.created_at, r.case_id, r.action, r.purpose, r.recipient, r.effect,
                     tuple(r.rules.split())) for r in rows]


def _is_own(record: Mapping[str, Any], actor_id: str) -> bool:
    actor = record.get("actor")
    detail = record.get("detail")
    if isinstance(actor, Mapping) and actor.get("id") == actor_id:
        return True
    return isinstance(detail, Mapping) and actor_id in (detail.get("via"),
                                                        detail.get("opened_by"))


def receipt(instance: Instance, integration: Integration, index: int) -> str:
    """A C2SP tlog-proof for one of the integration's own entries, carrying the entry.

    Its own entries are those it made, the reports it brought (``via``) and the packages it
    opened (``opened_by``). Any other entry is private (I5): asking for one is refused, on
    record, with the same answer as for an index that does not exist.
    """
    try:
        leaf = instance.ledger.entry(index) if index >= 0 else None
        record = parse_leaf(leaf) if leaf is not None else {}
    except LedgerError:
        leaf, record = None, {}
    if leaf is None or not _is_own(record, integration.actor_id):
        record_failure(instance, casework.actor_for(integration.user), None, None,
                       "receipt_refused", detail={"event": "api_receipt",
                                                  "entry": str(index)[:20]})
        raise IntegrationRefused(Refusal.NOT_FOUND, "no entry of this integration has that index")
    proof = parse_proof(cosigned_proof(instance.ledger, index))
    return format_proof(TlogProof(proof.index, proof.hashes, proof.checkpoint_note, extra=leaf))
