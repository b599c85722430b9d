"""Audit: every failure in the disclosure workflow is a denial on record (I2), never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update
from tests.support.ledger_entries import entries
from tests.support.staff_client import signed_in
from tests.support.staff_world import StaffWorld

from safereport.domain.vocabulary import DataCategory, Purpose, Recipient
from safereport.errors import AccessDenied, InvalidInput, VaultError
from safereport.services import disclosure
from safereport.services.disclosure import DisclosureForm, DisclosureStatus
from safereport.services.disclosure import release as disclosure_release
from safereport.store.staff import disclosure_packages

REFERRAL = frozenset({DataCategory.IDENTITY, DataCategory.CONTACT})


def _referral(world: StaffWorld, case_id: str, recipient: str = "police") -> DisclosureForm:
    return DisclosureForm(case_id=case_id, recipient_org_id=world.orgs.get(recipient, recipient),
                          purpose=Purpose.SAFEGUARDING, categories=REFERRAL)


def _last_denial_for(world: StaffWorld, case_id: str | None) -> dict[str, object]:
    last = entries(world.instance)[-1]
    assert last["decision"] == "deny", last
    assert last["case"] == case_id
    return last


def test_a_disclosure_of_a_case_not_held_or_to_nobody_is_a_denial_on_record(
    sqlite_world: StaffWorld,
) -> None:
    world = sqlite_world
    case_id = world.file("cw").case_id
    with pytest.raises(InvalidInput, match="no such case"):
        disclosure.request_disclosure(world.instance, world.users["other_cw"],
                                      _referral(world, case_id))
    assert _last_denial_for(world, case_id)["action"] == "disclose"
    with pytest.raises(InvalidInput, match="receives"):
        disclosure.request_disclosure(world.instance, world.users["cw"],
                                      _referral(world, case_id, "no-such-org"))
    assert _last_denial_for(world, case_id)["action"] == "disclose"


def test_a_release_that_cannot_be_stored_is_a_denial_on_record(
    world: StaffWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    filed = world.file(consents=((Recipient.POLICE, Purpose.SAFEGUARDING),))
    world.confirm_consents(filed)

    def broken_seal(*args: object, **kwargs: object) -> object:
        raise VaultError()

    monkeypatch.setattr(disclosure_release, "seal_package", broken_seal)
    request_id = disclosure.request_disclosure(world.instance, world.users["cw"],
                                               _referral(world, filed.case_id))
    view = disclosure.view_disclosure(world.instance, world.users["cw"], request_id)
    assert view.status is DisclosureStatus.DENIED
    last = _last_denial_for(world, filed.case_id)
    assert last["detail"] == {"disclosure": request_id, "outcome": "release_failed"}
    with world.instance.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(disclosure_packages)).scalar() == 0


def test_an_unopenable_justification_is_a_denial_on_record(
    sqlite_world: StaffWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = sqlite_world
    filed = world.file()
    form = DisclosureForm(case_id=filed.case_id, recipient_org_id=world.orgs["marac"],
                          purpose=Purpose.MARAC, categories=REFERRAL,
                          justification="High risk: MARAC on Tuesday.")
    request_id = disclosure.request_disclosure(world.instance, world.users["sup1"], form)

    def broken_open(*args: object, **kwargs: object) -> bytes:
        raise VaultError()

    monkeypatch.setattr(world.instance.vault, "open_blob", broken_open)
    with pytest.raises(AccessDenied):
        disclosure.justification_text(world.instance, world.users["sup1"], request_id)
    assert _last_denial_for(world, filed.case_id)["detail"] == {
        "disclosure": request_id, "outcome": "vault_error"}


def test_an_unreadable_package_is_a_denial_on_record_not_a_500(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    filed = world.file(consents=((Recipient.POLICE, Purpose.SAFEGUARDING),))
    world.confirm_consents(filed)
    request_id = disclosure.request_disclosure(world.instance, world.users["cw"],
                                               _referral(world, filed.case_id))
    with world.instance.engine.begin() as conn:
        sealed = bytes(conn.execute(select(disclosure_packages.c.ciphertext)).scalar_one())
        conn.execute(update(disclosure_packages).values(
            ciphertext=sealed[:-1] + bytes([sealed[-1] ^ 1])))
    client = signed_in(world, "officer")
    page = client.get("/staff/inbox")
    from tests.support.staff_client import csrf_of

    answer = client.post(f"/staff/inbox/{request_id}/accept",
                         data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 403
    last = _last_denial_for(world, None)
    assert last["detail"] == {"disclosure": request_id, "outcome": "package_unreadable"}


def test_refused_approvals_and_justifications_are_denials_on_record(
    sqlite_world: StaffWorld,
) -> None:
    world = sqlite_world
    filed = world.file("sup1")
    form = DisclosureForm(case_id=filed.case_id, recipient_org_id=world.orgs["marac"],
                          purpose=Purpose.MARAC, categories=REFERRAL,
                          justification="High risk; MARAC this week.")
    request_id = disclosure.request_disclosure(world.instance, world.users["sup1"], form)
    for who, why in (("sup1", "second supervisor"), ("cw", "only a supervisor")):
        with pytest.raises(InvalidInput, match=why):
            disclosure.approve(world.instance, world.users[who], request_id)
        last = _last_denial_for(world, filed.case_id)
        assert last["detail"] == {"disclosure": request_id, "event": "approval_refused"}
        assert last["action"] == "disclose"
    with pytest.raises(InvalidInput, match="only the person who asked"):
        disclosure.add_justification(world.instance, world.users["sup2"], request_id, "Because")
    assert _last_denial_for(world, filed.case_id)["detail"] == {
        "disclosure": request_id, "event": "justification_refused"}
    for step in (disclosure.approve, disclosure.view_disclosure):
        with pytest.raises(InvalidInput, match="no such disclosure request"):
            step(world.instance, world.users["other_cw"], request_id)
        assert _last_denial_for(world, None)["detail"]["outcome"] == "disclosure_not_held"  # type: ignore[index]
    # and the workflow still completes
    disclosure.approve(world.instance, world.users["sup2"], request_id)
    view = disclosure.view_disclosure(world.instance, world.users["sup1"], request_id)
    assert view.status is DisclosureStatus.RELEASED
