"""The disclosure workflow: decisions with reasons, obligations enforced, sealed packages."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from tests.support.staff_world import StaffWorld

from safereport.domain.vocabulary import DataCategory, Purpose, Recipient, StatusEvidence
from safereport.errors import InvalidInput
from safereport.services import casework, disclosure
from safereport.services.claim import claim_case
from safereport.services.disclosure import DisclosureForm, DisclosureStatus
from safereport.services.disclosure_seal import SealedPackage, open_package
from safereport.store.core import notes
from safereport.store.ledger import ledger_entries
from safereport.store.staff import disclosure_packages

BASIC = frozenset({DataCategory.IDENTITY, DataCategory.ADDRESS, DataCategory.IMMIGRATION_STATUS})


def _ledger(world: StaffWorld) -> list[tuple[str, str]]:
    with world.instance.engine.connect() as conn:
        rows = conn.execute(select(ledger_entries.c.action, ledger_entries.c.effect)
                            .order_by(ledger_entries.c.idx))
        return [(r.action, r.effect) for r in rows]


def _package(world: StaffWorld, request_id: str, org: str) -> dict[str, object]:
    with world.instance.engine.connect() as conn:
        row = conn.execute(select(disclosure_packages).where(
            disclosure_packages.c.request_id == request_id)).one()
    data = open_package(world.instance.settings.keys_dir, world.orgs[org], request_id.encode(),
                        SealedPackage(row.ephemeral_public, row.nonce, row.ciphertext))
    return dict(json.loads(data))


def _to_ie(world: StaffWorld, case_id: str, justification: str = "") -> DisclosureForm:
    return DisclosureForm(case_id=case_id, recipient_org_id=world.orgs["ie"],
                          purpose=Purpose.IMMIGRATION_ENFORCEMENT, categories=BASIC,
                          status_evidence=StatusEvidence.SUSPECTED, justification=justification)


def test_police_to_immigration_enforcement_denied_under_firewall(world: StaffWorld) -> None:
    filed = world.file("officer", sensitive=False)
    before = len(_ledger(world))
    request_id = disclosure.request_disclosure(world.instance, world.users["officer"],
                                               _to_ie(world, filed.case_id, "asked to"))
    view = disclosure.view_disclosure(world.instance, world.users["officer"], request_id)
    assert view.status is DisclosureStatus.DENIED
    assert "F-firewall" in view.rules and view.reasons
    assert _ledger(world)[before:] == [("disclose", "deny")]
    with world.instance.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(disclosure_packages)).scalar() == 0


def test_npcc_requires_justification_before_release(npcc_world: StaffWorld) -> None:
    w = npcc_world
    filed = w.file("officer", sensitive=False)
    officer = w.users["officer"]
    request_id = disclosure.request_disclosure(w.instance, officer, _to_ie(w, filed.case_id))
    view = disclosure.view_disclosure(w.instance, officer, request_id)
    assert view.status is DisclosureStatus.NEEDS_JUSTIFICATION
    assert "N-contact-ie" in view.rules
    assert view.outstanding and "justification" in view.outstanding[0]
    with w.instance.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(disclosure_packages)).scalar() == 0
    with pytest.raises(InvalidInput, match="only the person who asked"):
        disclosure.add_justification(w.instance, w.users["officer2"], request_id, "x")
    disclosure.add_justification(w.instance, officer, request_id, "Suspected trafficking link.")
    view = disclosure.view_disclosure(w.instance, officer, request_id)
    assert view.status is DisclosureStatus.RELEASED
    package = _package(w, request_id, "ie")
    assert package["fields"] == {"name": "Maria Exemplo",
                                 "address": "1 Example Street, Testtown"}
    # the request, officer2's refused justification (a denial on record), the written reason
    # (a write to her case, decided and recorded with it), the release
    assert _ledger(w)[-4:] == [("disclose", "conditional"), ("disclose", "deny"),
                               ("update", "allow"), ("disclose", "conditional")]


def test_marac_without_consent_needs_two_supervisors(world: StaffWorld) -> None:
    filed = world.file("sup1")
    form = DisclosureForm(case_id=filed.case_id, recipient_org_id=world.orgs["marac"],
                          purpose=Purpose.MARAC, categories=frozenset(
                              {DataCategory.IDENTITY, DataCategory.RISK_ASSESSMENT,
                               DataCategory.NATIONALITY}),
                          justification="High risk; MARAC this week.")
    request_id = disclosure.request_disclosure(world.instance, world.users["sup1"], form)
    view = disclosure.view_disclosure(world.instance, world.users["sup1"], request_id)
    assert view.status is DisclosureStatus.NEEDS_APPROVAL
    with pytest.raises(InvalidInput, match="second supervisor"):
        disclosure.approve(world.instance, world.users["sup1"], request_id)
    with pytest.raises(InvalidInput, match="only a supervisor"):
        disclosure.approve(world.instance, world.users["cw"], request_id)
    with pytest.raises(InvalidInput, match="no such"):
        disclosure.approve(world.instance, world.users["other_cw"], request_id)
    assert [v.id for v in disclosure.awaiting_approval(world.instance, world.users["sup2"])] == \
        [request_id]
    assert disclosure.justification_text(world.instance, world.users["sup2"], request_id) == \
        "High risk; MARAC this week."
    disclosure.approve(world.instance, world.users["sup2"], request_id)
    view = disclosure.view_disclosure(world.instance, world.users["sup1"], request_id)
    assert view.status is DisclosureStatus.RELEASED and view.approvers == ("Sup2",)
    package = _package(world, request_id, "marac")
    assert package["fields"] == {"name": "Maria Exemplo", "nationality": "Examplestan"}


def test_emergency_disclosure_notifies_the_subject(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    filed = w.file()
    form = DisclosureForm(case_id=filed.case_id, recipient_org_id=w.orgs["police"],
                          purpose=Purpose.SAFEGUARDING,
                          categories=frozenset({DataCategory.ADDRESS}),
                          flags=frozenset({"emergency"}), justification="Threat to life now.")
    request_id = disclosure.request_disclosure(w.instance, w.users["cw"], form)
    # notify_subject needs someone to read the notice: an unclaimed report waits for her
    assert disclosure.view_disclosure(w.instance, w.users["cw"], request_id).status is \
        DisclosureStatus.WAITING_FOR_HER
    assert disclosure.inbox(w.instance, w.users["officer"]) == []
    claim_case(w.instance, filed.claim_code)
    disclosure.release_waiting(w.instance, w.users["cw"], request_id)
    assert disclosure.view_disclosure(w.instance, w.users["cw"], request_id).status is \
        DisclosureStatus.RELEASED
    with w.instance.engine.connect() as conn:
        shown = conn.execute(select(notes.c.author_kind).where(
            notes.c.case_id == filed.case_id, notes.c.visible_to_subject)).scalars().all()
    assert shown == ["system"]
    page = casework.case_page(w.instance, w.users["cw"], filed.case_id)
    assert "shared with police" in page.notes[0].text
    # the police take it into their own casework, read through the guard from then on
    items = disclosure.inbox(w.instance, w.users["officer"])
    assert [i.request_id for i in items] == [request_id]
    new_case = disclosure.accept_package(w.instance, w.users["officer"], request_id)
    police_page = casework.case_page(w.instance, w.users["officer"], new_case)
    assert police_page.values[casework.CaseField.ADDRESS] == "1 Example Street, Testtown"


def test_consented_referral_is_allowed_at_once(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    filed = w.file(consents=((Recipient.POLICE, Purpose.SAFEGUARDING),))
    w.confirm_consents(filed)
    form = DisclosureForm(case_id=filed.case_id, recipient_org_id=w.orgs["police"],
                          purpose=Purpose.SAFEGUARDING,
                          categories=frozenset({DataCategory.IDENTITY, DataCategory.CONTACT}))
    request_id = disclosure.request_disclosure(w.instance, w.users["cw"], form)
    view = disclosure.view_disclosure(w.instance, w.users["cw"], request_id)
    assert view.status is DisclosureStatus.RELEASED and view.effect == "allow"


def test_form_parsing() -> None:
    form = disclosure.parse_disclosure_form(
        {"case_id": "c", "recipient_org": "o", "purpose": "marac", "status_evidence": "none"},
        ["identity", "address"], ["emergency"])
    assert form.categories == {DataCategory.IDENTITY, DataCategory.ADDRESS}
    assert form.context()["emergency"] is True and "automated" not in form.context()
    with pytest.raises(InvalidInput, match="purpose"):
        disclosure.parse_disclosure_form({"purpose": "x"}, ["identity"])
    with pytest.raises(InvalidInput, match="at least one"):
        disclosure.parse_disclosure_form({"purpose": "marac", "recipient_org": "o"}, [])
    for derived in ("consent", "victim_initiated", "automated"):
        with pytest.raises(InvalidInput, match="read from her record"):
            disclosure.parse_disclosure_form({"purpose": "marac", "recipient_org": "o"},
                                             ["identity"], [derived])
    with pytest.raises(InvalidInput, match="unknown fact"):
        disclosure.parse_disclosure_form({"purpose": "marac", "recipient_org": "o"},
                                         ["identity"], ["urgent"])


def test_police_ask_a_support_service_through_the_same_workflow(
        sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    filed = w.file(consents=((Recipient.POLICE, Purpose.SAFEGUARDING),))
    w.confirm_consents(filed)
    officer, cw = w.users["officer"], w.users["cw"]
    ask_id = disclosure.ask_for_disclosure(
        w.instance, officer, holder_org_id=w.orgs["support"], reference=filed.reference.lower(),
        purpose=Purpose.SAFEGUARDING, categories=[DataCategory.CONTACT])
    received, _ = disclosure.asks(w.instance, cw)
    assert [(a.id, a.case_id) for a in received] == [(ask_id, filed.case_id)]
    _, sent = disclosure.asks(w.instance, officer)
    assert sent[0].case_id is None  # the asker never learns the holder's case id
    wrong = DisclosureForm(case_id=filed.case_id, recipient_org_id=w.orgs["marac"],
                           purpose=Purpose.SAFEGUARDING,
                           categories=frozenset({DataCategory.CONTACT}))
    with pytest.raises(InvalidInput, match="organisation that asked"):
        disclosure.answer_ask(w.instance, cw, ask_id, wrong)
    form = DisclosureForm(case_id=filed.case_id, recipient_org_id=w.orgs["police"],
                          purpose=Purpose.SAFEGUARDING,
                          categories=frozenset({DataCategory.CONTACT}))
    request_id = disclosure.answer_ask(w.instance, cw, ask_id, form)
    assert disclosure.view_disclosure(w.instance, cw, request_id).status is \
        DisclosureStatus.RELEASED
    assert [i.request_id for i in disclosure.inbox(w.instance, officer)] == [request_id]
    received, _ = disclosure.asks(w.instance, cw)
    assert received[0].status == "answered" and received[0].request_id == request_id
