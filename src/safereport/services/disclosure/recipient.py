"""The recipient's side: the inbox of packages, reading one, and taking one into casework.

A package is read only through the one road: the disclosure it came from is decided again at
that moment and recorded, and only the Grant of that committed decision opens it. A recipient
that holds cases takes a package in with :func:`accept_package`: the fields are sealed under a
new case of the recipient's, and read from then on through the guard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from safereport.domain.case import CaseStatus, IntakeKind, new_id
from safereport.domain.fields import FIELD_CATEGORY, FIELD_ORDER, CaseField
from safereport.domain.vocabulary import (
    Action,
    CrimeType,
    DataCategory,
    Obligation,
    OrgKind,
    Purpose,
    Recipient,
    SubjectRole,
)
from safereport.errors import AccessDenied, InvalidInput, LedgerError, NotFound, VaultError
from safereport.policy.decision import Grant
from safereport.services.access import (
    decide_and_record,
    decide_write,
    grant_for,
    record_failure,
)
from safereport.services.auth import StaffUser
from safereport.services.casework import actor_for, default_purpose
from safereport.services.disclosure.forms import _DERIVED_FACTS, _REQUEST_ID
from safereport.services.disclosure.workflow import _fulfilled, _now, _requester_actor
from safereport.services.disclosure_seal import SealedPackage, open_package
from safereport.services.instance import Instance
from safereport.store.cases import NewCase, insert_case, remove_case
from safereport.store.disclosures import (
    PackageRow,
    RequestRow,
    accepted_case_of,
    case_is_live,
    inbox_rows,
    organisation_name,
    package_for,
    request_row,
    set_accepted_case,
    source_case_is_live,
    transferred_request_ids,
)

__all__ = [
    "MAY_DO",
    "MAY_DO_ALWAYS",
    "InboxItem",
    "PackageExpired",
    "PackageView",
    "accept_package",
    "inbox",
    "open_released_package",
    "package_expiry",
    "read_package",
]


@dataclass(frozen=True)
class InboxItem:
    request_id: str
    sender: str
    purpose: Purpose
    categories: tuple[DataCategory, ...]
    received_at: datetime
    accepted_case_id: str | None
    expires_at: datetime
    expired: bool
    #: Only a police force or a support service holds cases; every recipient can read.
    can_take_in: bool
    #: A case handed to this organisation's area (issue 17): take it into casework.
    transfer: bool = False


#: What a recipient may do with a package, by the purpose it was released for. Shown beside
#: every package; the general lines below apply to all.
MAY_DO: dict[Purpose, str] = {
    Purpose.MARAC: "Use it only to prepare and hold the MARAC meeting about her safety and to "
                   "agree the actions of her safety plan; share it only with the meeting's "
                   "members.",
    Purpose.SAFEGUARDING: "Use it only to keep her, or the people named, safe (safeguarding); "
                          "record in your own system only what that needs.",
    Purpose.SUPPORT: "Use it only to support her; contact her only in the ways her safe-"
                     "contact preferences allow.",
    Purpose.INVESTIGATION: "Use it only to investigate the crime against her.",
    Purpose.PROSECUTION: "Use it only to prosecute the crime against her.",
    Purpose.COURT_ORDER: "Use it only for the court proceedings it was ordered for.",
    Purpose.REGULARISATION_SUPPORT: "Use it only for her own application to regularise her "
                                    "stay, which she asked for; never for enforcement.",
}
MAY_DO_ALWAYS = (
    "Do not pass it on to anyone else; ask the sender instead.",
    "Never use it for immigration control, and never pass it to Immigration Enforcement.",
    "It can be read here until it expires; after that, ask the sender if it is still needed.",
)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def package_expiry(instance: Instance, created_at: datetime) -> datetime:
    """When a package released at ``created_at`` expires (the ``package_days`` setting)."""
    return _aware(created_at) + timedelta(days=instance.settings.package_days)


def inbox(instance: Instance, user: StaffUser, *, now: datetime | None = None) -> list[InboxItem]:
    """Packages released to the user's organisation (what, from whom; not the contents)."""
    moment = now or _now()
    with instance.engine.connect() as conn:
        rows = inbox_rows(conn, user.org_id)
        transfers = transferred_request_ids(conn, user.org_id)
    holds_cases = user.org_kind in (OrgKind.POLICE, OrgKind.SUPPORT_SERVICE)
    items = []
    for r in rows:
        expires = package_expiry(instance, r.created_at)
        items.append(InboxItem(r.request_id, r.sender, Purpose(r.purpose),
                               tuple(DataCategory(c) for c in r.categories.split()),
                               _aware(r.created_at), r.accepted_case_id, expires,
                               moment >= expires, holds_cases, r.request_id in transfers))
    return items


class PackageExpired(InvalidInput):
    """A package past its ``package_days``: it opens no more (the attempt is on record)."""


@dataclass(frozen=True)
class PackageView:
    request_id: str
    sender: str
    reference: str
    purpose: Purpose
    recipient: Recipient
    categories: tuple[DataCategory, ...]
    received_at: datetime
    expires_at: datetime
    may_do: tuple[str, ...]
    values: dict[CaseField, str]
    withheld: dict[CaseField, str]
    #: The rules of the decision under which it was opened now, and that decision's entry.
    rules: tuple[str, ...]
    ledger_index: int


def _sealed(pkg: PackageRow) -> SealedPackage:
    return SealedPackage(bytes(pkg.ephemeral_public), bytes(pkg.nonce), bytes(pkg.ciphertext))


def open_released_package(grant: Grant, keys_dir: Path, org_id: str, request_id: str,
                          case_id: str, pkg: PackageRow) -> Any:
    """Open a package with its recipient's key, only under a Grant for that very case.

    The Grant is the proof that the disclosure was decided again just now and that decision
    is committed to the ledger (I1); without one, or with one for another case or for fewer
    kinds of data than the package holds, nothing is opened.
    """
    if not isinstance(grant, Grant) or grant.case_id != case_id:
        raise AccessDenied("access denied: no decision stands behind this opening")
    body = json.loads(open_package(keys_dir, org_id, request_id.encode("ascii"), _sealed(pkg)))
    if body.get("disclosure") != request_id:
        raise ValueError("the package names another disclosure")
    held = {FIELD_CATEGORY[CaseField(name)] for name in dict(body["fields"])}
    if not held <= grant.categories:
        raise AccessDenied("access denied: the package holds more than the decision allows")
    return body


@dataclass(frozen=True)
class _Held:
    """A package of the user's organisation with the request it came from."""

    pkg: PackageRow
    req: RequestRow
    source_live: bool
    sender: str
    met: frozenset[Obligation]


def _held_package(instance: Instance, user: StaffUser, request_id: str) -> _Held | None:
    if _REQUEST_ID.fullmatch(request_id) is None:
        return None
    with instance.engine.connect() as conn:
        pkg = package_for(conn, request_id, user.org_id)
        req = request_row(conn, request_id)
        if pkg is None or req is None:
            return None
        live = case_is_live(conn, req.case_id)
        sender = organisation_name(conn, req.holder_org_id) or "?"
        met, _ = _fulfilled(conn, req)
    return _Held(pkg, req, live, sender, met)


def read_package(instance: Instance, user: StaffUser, request_id: str, *,
                 now: datetime | None = None) -> PackageView:
    """Read a package released to the user's organisation, read-only, through the one road.

    The disclosure it came from is decided again by the guard at this moment, as the holder's
    disclosure to this recipient (her consent or request read from the record, the regime of
    today), and recorded in the ledger with who opened it; only with the Grant of that
    committed decision is the package opened. An expired package, one of another
    organisation, one whose source was erased, or one whose disclosure no longer stands opens
    nothing, and each refusal is on record.
    """
    actor = actor_for(user)
    moment = now or _now()
    held = _held_package(instance, user, request_id)
    if held is None:
        record_failure(instance, actor, None, None, "package_not_held",
                       detail={"event": "package_open", "disclosure": request_id[:32]})
        raise NotFound("no such package")
    pkg, req = held.pkg, held.req
    expires = package_expiry(instance, pkg.created_at)
    if moment >= expires:
        record_failure(instance, actor, None, None, "package_expired",
                       detail={"event": "package_open", "disclosure": request_id})
        raise PackageExpired(
            f"This package expired on {expires:%d %b %Y} and can no longer be opened. "
            f"If it is still needed, ask {held.sender} to send it again.")
    if not held.source_live:
        record_failure(instance, actor, None, None, "source_erased",
                       detail={"event": "package_open", "disclosure": request_id})
        raise InvalidInput("this package can no longer be opened: the person asked for her "
                           "data to be erased")
    categories = frozenset(DataCategory(c) for c in req.categories.split())
    context = {k: v for k, v in json.loads(req.context).items() if k not in _DERIVED_FACTS}
    holder = _requester_actor(instance, req)
    decision, index = decide_and_record(
        instance, holder, req.case_id, action=Action.DISCLOSE, purpose=Purpose(req.purpose),
        categories=categories, recipient=Recipient(req.recipient), context=context,
        victim_request=req.victim_request_id,
        detail={"event": "package_opened", "disclosure": req.id, "opened_by": actor.id,
                "opened_by_org_kind": user.org_kind.value},
    )
    if not decision.allowed:
        raise AccessDenied("this package can no longer be opened: the disclosure it came from "
                           "no longer stands", rules=decision.rules, reasons=decision.reasons)
    try:
        grant = grant_for(instance, decision, index, req.case_id, held.met)
        body = open_released_package(grant, instance.settings.keys_dir, user.org_id,
                                     request_id, req.case_id, pkg)
        values = {CaseField(k): str(v) for k, v in dict(body["fields"]).items()}
        withheld = {CaseField(k): str(v) for k, v in dict(body.get("withheld") or {}).items()}
    except (AccessDenied, LedgerError, VaultError, ValueError, KeyError, TypeError) as exc:
        record_failure(instance, actor, None, None, "package_unreadable",
                       detail={"event": "package_open", "disclosure": request_id})
        raise AccessDenied("access denied: the package could not be opened") from exc
    purpose = Purpose(req.purpose)
    may_do = tuple(x for x in (MAY_DO.get(purpose),) if x) + MAY_DO_ALWAYS
    return PackageView(
        request_id=request_id, sender=held.sender, reference=str(body.get("reference", "")),
        purpose=purpose, recipient=Recipient(req.recipient),
        categories=tuple(sorted(categories)), received_at=_aware(pkg.created_at),
        expires_at=expires, may_do=may_do,
        values={f: values[f] for f in FIELD_ORDER if f in values},
        withheld={f: withheld[f] for f in FIELD_ORDER if f in withheld},
        rules=decision.rules, ledger_index=index)


def accept_package(instance: Instance, user: StaffUser, request_id: str) -> str:
    """Open a package sent to the user's organisation into a new case it holds.

    The contents are never shown from the package: they are sealed under the new case's data
    key at once, and read from then on through the guard like any other case. The taking-in is
    itself decided (an ``update`` by the recipient) and recorded.
    """
    if user.org_kind not in (OrgKind.POLICE, OrgKind.SUPPORT_SERVICE):
        raise InvalidInput("only a police force or a support service holds cases here; "
                           "read the package from the inbox instead")
    with instance.engine.connect() as conn:
        pkg = package_for(conn, request_id, user.org_id)
        source_live = source_case_is_live(conn, request_id)
    if pkg is None:
        # Another organisation's package, or one destroyed by an erasure: refused on record.
        record_failure(instance, actor_for(user), None, None, "package_not_held",
                       detail={"disclosure": request_id[:32]})
        raise NotFound("no such package")
    if pkg.accepted_case_id is not None:
        return str(pkg.accepted_case_id)
    expires = package_expiry(instance, pkg.created_at)
    if _now() >= expires:
        record_failure(instance, actor_for(user), None, None, "package_expired",
                       detail={"event": "package_accept", "disclosure": request_id})
        raise PackageExpired(f"This package expired on {expires:%d %b %Y} and can no longer "
                             "be taken in.")
    if not source_live:
        record_failure(instance, actor_for(user), None, None, "source_erased",
                       detail={"disclosure": request_id})
        raise InvalidInput("this package can no longer be taken in: the person asked for her "
                           "data to be erased")
    try:
        body = _package_body(instance, user, request_id, pkg)
    except (VaultError, ValueError, KeyError, TypeError) as exc:
        # A package that cannot be opened or is malformed: a denial on record, not a 500.
        record_failure(instance, actor_for(user), None, None, "package_unreadable",
                       detail={"disclosure": request_id})
        raise AccessDenied("access denied: the package could not be opened") from exc
    case_id = _take_in(instance, user, request_id, new_id(), body)
    # A transfer to another area (issue 17) ends at the sender: its case is closed.
    from safereport.services.practice import complete_transfer

    complete_transfer(instance, request_id, case_id, actor_for(user))
    return case_id


def _package_body(instance: Instance, user: StaffUser, request_id: str, pkg: PackageRow) -> Any:
    """The package's record, checked for shape (ValueError/KeyError/TypeError if malformed)."""
    body = json.loads(open_package(
        instance.settings.keys_dir, user.org_id, request_id.encode("ascii"), _sealed(pkg)))
    SubjectRole(body["subject_role"])
    CrimeType(body["crime_type"])
    for name in dict(body["fields"]):
        CaseField(name)
    return body


def _take_in(
    instance: Instance, user: StaffUser, request_id: str, case_id: str, body: Any
) -> str:
    denial: AccessDenied | None = None
    with instance.engine.begin() as conn:
        accepted = accepted_case_of(conn, request_id)
        if accepted is not None:
            return accepted
        insert_case(conn, NewCase(
            id=case_id, org_id=user.org_id,
            subject_role=SubjectRole(body["subject_role"]).value,
            crime_type=CrimeType(body["crime_type"]).value, status=CaseStatus.NEW.value,
            intake=IntakeKind.THIRD_PARTY.value, language="en", created_at=_now(),
            assigned_to=user.id, filed_by=user.id))
        values = {CaseField(k): v for k, v in body["fields"].items() if v}
        decision, write = decide_write(
            instance, conn, actor_for(user), case_id, purpose=default_purpose(user),
            categories={FIELD_CATEGORY[k] for k in values} or {DataCategory.CRIME_DETAILS},
            detail={"event": "disclosure_accepted", "disclosure": request_id})
        if write is not None:
            write.create_key()
            write.seal_fields(values)
            set_accepted_case(conn, request_id, case_id)
        else:
            remove_case(conn, case_id)
            denial = AccessDenied("not allowed", rules=decision.rules, reasons=decision.reasons)
    if denial is not None:
        raise denial
    return case_id
