"""Audit: refusals outside the guard's own answer are denials in the ledger too (I2)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from tests.support.ledger_entries import entries
from tests.support.staff_client import signed_in
from tests.support.staff_world import StaffWorld

from safereport.domain.vocabulary import DataCategory, Purpose
from safereport.errors import InvalidInput
from safereport.services import casework
from safereport.services.disclosure import DisclosureForm

REFERRAL = frozenset({DataCategory.IDENTITY, DataCategory.CONTACT})


def _referral(world: StaffWorld, case_id: str, recipient: str = "police") -> DisclosureForm:
    return DisclosureForm(case_id=case_id, recipient_org_id=world.orgs.get(recipient, recipient),
                          purpose=Purpose.SAFEGUARDING, categories=REFERRAL)


def _last_denial_for(world: StaffWorld, case_id: str | None) -> dict[str, object]:
    last = entries(world.instance)[-1]
    assert last["decision"] == "deny", last
    assert last["case"] == case_id
    return last


def test_another_organisations_case_page_is_a_denial_on_record(world: StaffWorld) -> None:
    case_id = world.file("cw").case_id
    before = len(entries(world.instance))
    with pytest.raises(InvalidInput, match="no such case"):
        casework.case_page(world.instance, world.users["other_cw"], case_id)
    assert len(entries(world.instance)) == before + 1
    assert _last_denial_for(world, case_id)["action"] == "view"


def test_writes_to_another_organisations_case_are_denials_on_record(
    sqlite_world: StaffWorld,
) -> None:
    world = sqlite_world
    case_id = world.file("cw").case_id
    other = world.users["other_cw"]
    with pytest.raises(InvalidInput, match="no such case"):
        casework.add_note(world.instance, other, case_id, "probing")
    assert _last_denial_for(world, case_id)["action"] == "update"
    with pytest.raises(InvalidInput, match="no such case"):
        casework.change_status(world.instance, other, case_id, "closed")
    assert _last_denial_for(world, case_id)["detail"] == {"event": "status"}


def test_the_case_page_of_another_organisation_is_404_and_on_record(
    sqlite_world: StaffWorld,
) -> None:
    world = sqlite_world
    case_id = world.file("cw").case_id
    client = signed_in(world, "other_cw")
    assert client.get(f"/staff/cases/{case_id}").status_code == 404
    assert _last_denial_for(world, case_id)["actor"]["id"] == f"user:{world.users['other_cw'].id}"  # type: ignore[index]


def test_a_note_that_cannot_be_opened_is_a_denial_on_record(sqlite_world: StaffWorld) -> None:
    from safereport.store.core import notes

    world = sqlite_world
    case_id = world.file("cw").case_id
    casework.add_note(world.instance, world.users["cw"], case_id, "Called her sister.")
    with world.instance.engine.begin() as conn:
        sealed = bytes(conn.execute(select(notes.c.sealed)).scalar_one())
        conn.execute(update(notes).values(sealed=sealed[:-1] + bytes([sealed[-1] ^ 1])))
    page = casework.case_page(world.instance, world.users["cw"], case_id)
    assert page.notes[0].text == "(this note could not be opened)"
    last = _last_denial_for(world, case_id)
    assert last["detail"] == {"notes_unopened": "1", "outcome": "vault_error"}


def test_a_write_the_vault_cannot_seal_is_a_denial_on_record_not_a_500(
    sqlite_world: StaffWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safereport.errors import AccessDenied, VaultError
    from safereport.store.core import notes

    world = sqlite_world
    case_id = world.file("cw").case_id

    def broken_seal(*args: object, **kwargs: object) -> bytes:
        raise VaultError()

    monkeypatch.setattr(world.instance.vault, "seal_blob", broken_seal)
    with pytest.raises(AccessDenied):
        casework.add_note(world.instance, world.users["cw"], case_id, "Called her sister.")
    last = _last_denial_for(world, case_id)
    assert last["detail"] == {"event": "note_added", "outcome": "vault_error"}
    with world.instance.engine.connect() as conn:
        assert conn.execute(select(notes.c.id)).first() is None


@pytest.mark.parametrize("case_id", ["x" * 200, "../../etc/passwd", "ÿ" * 10])
def test_a_malformed_case_id_is_a_404_and_a_denial_on_record(
    world: StaffWorld, case_id: str
) -> None:
    before = len(entries(world.instance))
    with pytest.raises(InvalidInput, match="no such case"):
        casework.case_page(world.instance, world.users["cw"], case_id)
    after = entries(world.instance)
    assert len(after) == before + 1
    assert after[-1]["decision"] == "deny" and after[-1]["case"] is None
    assert after[-1]["detail"]["case_id"] == "malformed"
