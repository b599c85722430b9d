"""The disclosure workflow closed at every end (issue 17).

An approver can refuse or send back, with a reason; the person who asked can withdraw; an
organisation that asked (police liaison) always learns the outcome and the plain reason; each
of these is in the ledger. Before, an approver who disagreed could only leave a request
waiting for ever, and the officer whose ask was refused saw only "(answered)".
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from tests.support.staff_world import StaffWorld

from safereport.domain.vocabulary import DataCategory, Purpose, Recipient, StatusEvidence
from safereport.errors import InvalidInput
from safereport.ledger.record import parse_leaf
from safereport.services import disclosure
from safereport.services.disclosure import DisclosureForm, DisclosureStatus, EventKind
from safereport.store.ledger import ledger_entries
from safereport.store.staff import disclosure_packages


def _entries(world: StaffWorld, after: int) -> list[dict[str, Any]]:
    with world.instance.engine.connect() as conn:
        rows = conn.execute(select(ledger_entries.c.leaf).where(ledger_entries.c.idx > after)
                            .order_by(ledger_entries.c.idx)).scalars().all()
    return [parse_leaf(bytes(r)) for r in rows]


def _top(world: StaffWorld) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.max(ledger_entries.c.idx))).scalar() or -1)


def _packages(world: StaffWorld) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(disclosure_packages)).scalar()
                   or 0)


def _waiting_marac(world: StaffWorld) -> str:
    filed = world.file("sup1")
    request_id = disclosure.request_disclosure(world.instance, world.users["sup1"], DisclosureForm(
        case_id=filed.case_id, recipient_org_id=world.orgs["marac"], purpose=Purpose.MARAC,
        categories=frozenset({DataCategory.IDENTITY}), justification="MARAC on Thursday."))
    assert disclosure.view_disclosure(world.instance, world.users["sup1"],
                                      request_id).status is DisclosureStatus.NEEDS_APPROVAL
    return request_id


def test_a_supervisor_refuses_with_a_reason_and_the_requester_sees_it(world: StaffWorld) -> None:
    request_id = _waiting_marac(world)
    sup1, sup2 = world.users["sup1"], world.users["sup2"]
    with pytest.raises(InvalidInput, match="write the reason"):
        disclosure.refuse(world.instance, sup2, request_id, "   ")
    with pytest.raises(InvalidInput, match="second supervisor"):
        disclosure.refuse(world.instance, sup1, request_id, "I changed my mind")
    with pytest.raises(InvalidInput, match="only a supervisor"):
        disclosure.refuse(world.instance, world.users["cw"], request_id, "no")
    with pytest.raises(InvalidInput, match="no such"):
        disclosure.refuse(world.instance, world.users["other_cw"], request_id, "no")
    before = _top(world)
    disclosure.refuse(world.instance, sup2, request_id,
                      "She is already safe in a refuge; MARAC would add risk.")
    view = disclosure.view_disclosure(world.instance, sup1, request_id)
    assert view.status is DisclosureStatus.REFUSED and not view.is_open
    [event] = view.events
    assert event.kind is EventKind.REFUSED and event.by == "Sup2"
    assert event.reason == "She is already safe in a refuge; MARAC would add risk."
    [entry] = _entries(world, before)
    assert entry["decision"] == "deny" and entry["action"] == "disclose"
    assert entry["detail"]["event"] == "disclosure_refused"
    assert entry["actor"]["id"] == f"user:{sup2.id}"
    # Closed: no approval, no release, no second refusal.
    with pytest.raises(InvalidInput, match="not waiting for approval"):
        disclosure.approve(world.instance, sup2, request_id)
    with pytest.raises(InvalidInput, match="refused"):
        disclosure.refuse(world.instance, sup2, request_id, "again")
    with pytest.raises(InvalidInput, match="refused already"):
        disclosure.add_justification(world.instance, sup1, request_id, "please")
    assert _packages(world) == 0
    assert request_id not in [v.id for v in disclosure.awaiting_approval(world.instance, sup2)]


def test_send_back_then_a_new_justification_then_approval(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    request_id = _waiting_marac(world)
    sup1, sup2 = world.users["sup1"], world.users["sup2"]
    before = _top(world)
    disclosure.send_back(world.instance, sup2, request_id,
                         "Say what has changed since the last MARAC.")
    view = disclosure.view_disclosure(world.instance, sup1, request_id)
    assert view.status is DisclosureStatus.SENT_BACK and view.is_open
    assert [e["detail"]["event"] for e in _entries(world, before)] == ["disclosure_sent_back"]
    with pytest.raises(InvalidInput, match="not waiting for approval"):
        disclosure.approve(world.instance, sup2, request_id)
    with pytest.raises(InvalidInput, match="only the person who asked"):
        disclosure.add_justification(world.instance, sup2, request_id, "not mine to write")
    disclosure.add_justification(world.instance, sup1, request_id,
                                 "He was released from custody on Monday.")
    view = disclosure.view_disclosure(world.instance, sup1, request_id)
    assert view.status is DisclosureStatus.NEEDS_APPROVAL
    assert [e.kind for e in view.events] == [EventKind.SENT_BACK, EventKind.RESUBMITTED]
    disclosure.approve(world.instance, sup2, request_id)
    assert disclosure.view_disclosure(world.instance, sup1,
                                      request_id).status is DisclosureStatus.RELEASED


def test_the_requester_withdraws_with_a_reason(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    request_id = _waiting_marac(world)
    sup1, sup2 = world.users["sup1"], world.users["sup2"]
    with pytest.raises(InvalidInput, match="only the person who asked"):
        disclosure.withdraw(world.instance, sup2, request_id, "not mine")
    before = _top(world)
    disclosure.withdraw(world.instance, sup1, request_id, "She has moved out of the area.")
    view = disclosure.view_disclosure(world.instance, sup2, request_id)
    assert view.status is DisclosureStatus.WITHDRAWN
    assert view.events[0].reason == "She has moved out of the area."
    assert [e["detail"]["event"] for e in _entries(world, before)] == ["disclosure_withdrawn"]
    with pytest.raises(InvalidInput, match="not waiting for approval"):
        disclosure.approve(world.instance, sup2, request_id)
    assert _packages(world) == 0
    # A released request cannot be withdrawn (it has gone), and the attempt is on record.
    filed = world.file("cw", consents=((Recipient.HEALTH, Purpose.SAFEGUARDING),))
    world.confirm_consents(filed)
    released = disclosure.request_disclosure(world.instance, world.users["cw"], DisclosureForm(
        case_id=filed.case_id, recipient_org_id=world.orgs["health"],
        purpose=Purpose.SAFEGUARDING, categories=frozenset({DataCategory.ADDRESS})))
    before = _top(world)
    with pytest.raises(InvalidInput, match="released already"):
        disclosure.withdraw(world.instance, world.users["cw"], released, "too late")
    [entry] = _entries(world, before)
    assert entry["decision"] == "deny" and entry["detail"]["event"] == "withdrawal_refused"


def _ask(world: StaffWorld, reference: str, categories: frozenset[DataCategory]) -> str:
    return disclosure.ask_for_disclosure(
        world.instance, world.users["officer"], holder_org_id=world.orgs["support"],
        reference=reference, purpose=Purpose.IMMIGRATION_ENFORCEMENT, categories=categories)


def _sent(world: StaffWorld, ask_id: str) -> disclosure.AskView:
    _, sent = disclosure.asks(world.instance, world.users["officer"])
    return next(a for a in sent if a.id == ask_id)


def test_the_officer_learns_the_outcome_and_the_plain_reason(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    filed = world.file("cw")
    wanted = frozenset({DataCategory.ADDRESS, DataCategory.IMMIGRATION_STATUS})
    # 1. Answered, and refused by the policy: the policy's plain reasons reach the officer.
    ask_id = _ask(world, filed.reference, wanted)
    assert _sent(world, ask_id).outcome.startswith("Waiting")
    disclosure.answer_ask(world.instance, world.users["cw"], ask_id, DisclosureForm(
        case_id=filed.case_id, recipient_org_id=world.orgs["police"],
        purpose=Purpose.IMMIGRATION_ENFORCEMENT, categories=wanted,
        status_evidence=StatusEvidence.SUSPECTED))
    seen = _sent(world, ask_id)
    assert seen.outcome == "Refused under the policy: nothing was sent."
    assert seen.reasons and all("(answered)" not in r for r in seen.reasons)
    assert any("immigration" in r.lower() for r in seen.reasons)
    # 2. Declined by the holder with a reason, on record.
    declined = _ask(world, "SR-NOPE-NOPE-NOPE", frozenset({DataCategory.CONTACT}))
    before = _top(world)
    with pytest.raises(InvalidInput, match="write the reason"):
        disclosure.decline_ask(world.instance, world.users["cw"], declined, "")
    disclosure.decline_ask(world.instance, world.users["cw"], declined,
                           "We do not pass victims' details on without her consent.")
    seen = _sent(world, declined)
    assert seen.outcome == "Declined by Safe Haven Support."
    assert seen.reasons == ("We do not pass victims' details on without her consent.",)
    assert [e["detail"].get("outcome") for e in _entries(world, before)] == ["ask_declined"]
    with pytest.raises(InvalidInput, match="answered already"):
        disclosure.decline_ask(world.instance, world.users["sup1"], declined, "twice")
    with pytest.raises(InvalidInput, match="no such ask"):
        disclosure.decline_ask(world.instance, world.users["other_cw"], ask_id, "not ours")
    # 3. Answered, waiting, then refused by a supervisor: the supervisor's reason reaches him.
    marac_like = disclosure.ask_for_disclosure(
        world.instance, world.users["officer"], holder_org_id=world.orgs["support"],
        reference=filed.reference, purpose=Purpose.MARAC,
        categories=frozenset({DataCategory.IDENTITY}))
    request_id = disclosure.answer_ask(world.instance, world.users["sup1"], marac_like,
                                       DisclosureForm(
        case_id=filed.case_id, recipient_org_id=world.orgs["police"], purpose=Purpose.MARAC,
        categories=frozenset({DataCategory.IDENTITY}), justification="For the MARAC."))
    assert _sent(world, marac_like).outcome.startswith("Being decided")
    disclosure.refuse(world.instance, world.users["sup2"], request_id,
                      "Police already hold this; ask her caseworker at the MARAC.")
    seen = _sent(world, marac_like)
    assert seen.outcome == "Refused by a supervisor at Safe Haven Support: nothing was sent."
    assert seen.reasons == ("Police already hold this; ask her caseworker at the MARAC.",)
