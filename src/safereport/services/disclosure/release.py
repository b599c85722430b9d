"""Releasing a disclosure once nothing is owed: decided again, sealed to the recipient, stored.

The release is decided again at that moment (consent may have been withdrawn, the regime may
have changed) through :func:`~safereport.services.access.access_case` with the fulfilled
obligations; the opened fields are sealed to the recipient organisation's X25519 key and
stored; the release is a ledger entry of its own. A request that cannot be released is closed
as a denial on record, with the real reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping

from sqlalchemy import Connection

from safereport.domain.case import new_id
from safereport.domain.fields import FIELD_CATEGORY, CaseField
from safereport.domain.vocabulary import (
    Action,
    DataCategory,
    Effect,
    Obligation,
    OrgKind,
    Purpose,
    Recipient,
)
from safereport.errors import AccessDenied, InvalidInput
from safereport.policy.decision import Decision
from safereport.services.access import access_case, decide_write, record_failure
from safereport.services.auth import StaffUser
from safereport.services.casework import insert_note
from safereport.services.disclosure.forms import _DERIVED_FACTS
from safereport.services.disclosure.workflow import (
    _CLOSED,
    _DOOR_PENDING,
    DisclosureStatus,
    _Door,
    _door,
    _fulfilled,
    _held_request,
    _now,
    _record_refusal,
    _requester_actor,
)
from safereport.services.disclosure_seal import ensure_org_key, seal_package
from safereport.services.instance import Instance
from safereport.store.disclosures import (
    NewPackage,
    RequestRow,
    case_for_package,
    claim_release,
    insert_package,
    mark_released,
    set_status_if_open,
    the_request,
)
from safereport.store.provenance import standing_consent_row, victim_request_row

__all__ = ["release_waiting"]

log = logging.getLogger("safereport.disclosure")

_NO_DOOR = ("She must be told of this disclosure (notify_subject), and this report has no way "
            "for her to read a notice (it was made without a codename); nothing was sent.")


def _advance(instance: Instance, request_id: str) -> None:
    """Release if every obligation is met; otherwise record what the request waits for."""
    with instance.engine.connect() as conn:
        row = the_request(conn, request_id)
        met, outstanding = _fulfilled(conn, row)
        door = _door(conn, row.case_id)
    notify = Obligation.NOTIFY_SUBJECT.value in row.obligations.split()
    if notify and door is _Door.NEVER:
        _refuse_release(instance, row, "no_door_to_notify", _NO_DOOR)
        return
    if outstanding:
        if row.justification_sealed is None and (
            Obligation.RECORD_JUSTIFICATION in row.obligations.split()
        ):
            waiting = DisclosureStatus.NEEDS_JUSTIFICATION
        elif outstanding == [_DOOR_PENDING]:
            waiting = DisclosureStatus.WAITING_FOR_HER
        else:
            waiting = DisclosureStatus.NEEDS_APPROVAL
        _set_status(instance, request_id, waiting)
        return
    _release(instance, row, met)


def _refuse_release(instance: Instance, row: RequestRow, failure: str, reason: str) -> None:
    """Close a request that cannot be released, with the real reason, as a denial on record."""
    record_failure(instance, _requester_actor(instance, row), row.case_id, None, failure,
                   detail={"disclosure": row.id})
    _set_status(instance, row.id, DisclosureStatus.DENIED, effect=Effect.DENY.value,
                rules="", reasons=json.dumps([reason]))


def release_waiting(instance: Instance, user: StaffUser, request_id: str) -> None:
    """Try again a request that waited for her (she may have claimed her report since)."""
    row = _held_request(instance, user, request_id, "release_retry")
    if row.status != DisclosureStatus.WAITING_FOR_HER:
        _record_refusal(instance, user, row, "release_retry_refused")
        raise InvalidInput("this request is not waiting for her")
    _advance(instance, request_id)


def _set_status(instance: Instance, request_id: str, status: DisclosureStatus, *,
                effect: str | None = None, rules: str | None = None,
                reasons: str | None = None) -> None:
    """Move a request that is still open (a refused or withdrawn one stays closed)."""
    with instance.engine.begin() as conn:
        set_status_if_open(conn, request_id, status.value, closed=_CLOSED, now=_now(),
                           effect=effect, rules=rules, reasons=reasons)


def _release(instance: Instance, row: RequestRow, met: frozenset[Obligation]) -> None:
    categories = frozenset(DataCategory(c) for c in row.categories.split())
    names = [f for f in CaseField if FIELD_CATEGORY[f] in categories]
    context = {k: v for k, v in json.loads(row.context).items() if k not in _DERIVED_FACTS}
    try:
        access = access_case(
            instance, _requester_actor(instance, row), row.case_id, action=Action.DISCLOSE,
            purpose=Purpose(row.purpose), fields=names, categories=categories,
            recipient=Recipient(row.recipient), context=context, fulfilled=met,
            victim_request=row.victim_request_id,
        )
    except AccessDenied as exc:
        # Decided again at release time and refused (e.g. consent withdrawn): recorded by
        # access_case; the request is closed with the new reasons.
        _set_status(instance, row.id, DisclosureStatus.DENIED, effect=Effect.DENY.value,
                    rules=" ".join(exc.rules), reasons=json.dumps(list(exc.reasons or
                                                                      (str(exc),))))
        return
    try:
        _store_package(instance, row, access.decision, access.values, access.withheld,
                       access.grant.ledger_index)
    except _FactWithdrawn as exc:
        # She withdrew her consent (or her request) between the decision and the release:
        # the withdrawal wins; nothing was stored, and the ending is a denial on record.
        _refuse_release(instance, row, exc.failure, exc.reason)
    except Exception:
        # Opened but not stored (a vault failure sealing the notice, a key that cannot be
        # written): nothing left the machine, and that ending is a denial on record (I2),
        # not a 500 that leaves an 'allow' as the last word on this release.
        log.exception("disclosure %s could not be stored", row.id)
        record_failure(instance, _requester_actor(instance, row), row.case_id, access.decision,
                       "release_failed", detail={"disclosure": row.id})
        _set_status(instance, row.id, DisclosureStatus.DENIED, effect=Effect.DENY.value,
                    rules="", reasons=json.dumps(["The release could not be completed; "
                                                  "nothing was sent."]))


class _FactWithdrawn(Exception):
    def __init__(self, failure: str, reason: str) -> None:
        super().__init__(reason)
        self.failure = failure
        self.reason = reason


def _facts_still_stand(conn: Connection, row: RequestRow, decision: Decision) -> None:
    """Re-read, under a row lock, the facts from her that the release decision relied on."""
    context = dict(decision.request.get("context") or {})
    recipient, purpose = Recipient(row.recipient), Purpose(row.purpose)
    if context.get("consent") is True and standing_consent_row(
        conn, row.case_id, recipient, purpose, lock=True
    ) is None:
        raise _FactWithdrawn("consent_withdrawn", "She withdrew her consent before the "
                             "release; nothing was sent.")
    if context.get("victim_initiated") is True:
        asked = victim_request_row(conn, row.victim_request_id or "")
        if asked is None or not asked.stands:
            raise _FactWithdrawn("request_withdrawn", "She withdrew her request before the "
                                 "release; nothing was sent.")


def _package_body(conn: Connection, row: RequestRow, decision: Decision,
                  values: Mapping[CaseField, str], withheld: Mapping[CaseField, str],
                  ledger_index: int) -> bytes:
    """What the recipient reads: the opened fields, what was withheld and why, and where the
    release decision is on record."""
    case = case_for_package(conn, row.case_id)
    return json.dumps({
        "disclosure": row.id,
        "reference": case.reference,
        "crime_type": case.crime_type,
        "subject_role": case.subject_role,
        "purpose": row.purpose,
        "rules": list(decision.rules),
        "fields": {name.value: text for name, text in values.items()},
        "withheld": {name.value: why for name, why in withheld.items()},
        "ledger_index": ledger_index,
    }, sort_keys=True).encode("utf-8")


def _store_package(
    instance: Instance,
    row: RequestRow,
    decision: Decision,
    values: Mapping[CaseField, str],
    withheld: Mapping[CaseField, str],
    ledger_index: int,
) -> None:
    requester = _requester_actor(instance, row)
    with instance.engine.begin() as conn:
        _facts_still_stand(conn, row, decision)
        # Claim the release first: of two approvals racing, only one stores a package.
        # A request refused or withdrawn meanwhile stays closed: nothing is stored.
        if not claim_release(conn, row.id, DisclosureStatus.RELEASED.value, closed=_CLOSED):
            return
        body = _package_body(conn, row, decision, values, withheld, ledger_index)
        recipient_org_id = row.recipient_org_id or ""
        public = ensure_org_key(conn, instance.settings.keys_dir, recipient_org_id)
        sealed = seal_package(public, row.id.encode("ascii"), body)
        insert_package(conn, NewPackage(
            request_id=row.id, recipient_org_id=recipient_org_id,
            ephemeral_public=sealed.ephemeral_public, nonce=sealed.nonce,
            ciphertext=sealed.ciphertext, sha256=hashlib.sha256(sealed.ciphertext).hexdigest(),
            created_at=_now()))
        if Obligation.NOTIFY_SUBJECT in decision.obligations:
            # Her notice is a write to her case too: decided and recorded with the release.
            noticed, write = decide_write(
                instance, conn, requester, row.case_id,
                purpose=(Purpose.INVESTIGATION if requester.org_kind is OrgKind.POLICE
                         else Purpose.SUPPORT),
                categories=[DataCategory.CASE_NOTES],
                detail={"event": "disclosure_notice", "disclosure": row.id})
            if write is None:  # no notice, no release: the obligation is unmet (fail closed)
                raise AccessDenied("not allowed: she could not be told",
                                   rules=noticed.rules, reasons=noticed.reasons)
            insert_note(write, conn, new_id(), _notice(row), author_id=None,
                        author_kind="system", visible_to_subject=True, now=_now())
        mark_released(conn, row.id, DisclosureStatus.RELEASED.value,
                      release_index=ledger_index, effect=decision.effect.value,
                      rules=" ".join(decision.rules), now=_now())


def _notice(row: RequestRow) -> str:
    kinds = ", ".join(c.replace("_", " ") for c in row.categories.split())
    return (f"Information from your case ({kinds}) was shared with "
            f"{row.recipient.replace('_', ' ')} for {row.purpose.replace('_', ' ')}. "
            "You can see every access on the 'who has seen my data' page.")
