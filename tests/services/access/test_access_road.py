"""Audit: every error on the one road ends in a denial on record (I2), never a second allow."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from tests.support.ledger_entries import entries
from tests.support.staff_world import StaffWorld
from tests.support.statements import statements_run

from safereport.domain.fields import FIELD_CATEGORY, CaseField
from safereport.domain.vocabulary import Action, Purpose
from safereport.errors import AccessDenied, LedgerError
from safereport.services.access import CaseAccess, Part, access_case, access_case_parts
from safereport.services.casework import actor_for
from safereport.store.core import cases
from safereport.store.vault import vault_case_keys, vault_fields


def _tamper(world: StaffWorld, case_id: str) -> None:
    with world.instance.engine.begin() as conn:
        where = (vault_fields.c.case_id == case_id, vault_fields.c.field == "narrative")
        sealed = bytes(conn.execute(select(vault_fields.c.ciphertext).where(*where)).scalar_one())
        flipped = sealed[:1] + bytes([sealed[1] ^ 1]) + sealed[2:]
        conn.execute(update(vault_fields).where(*where).values(ciphertext=flipped))


def test_a_vault_failure_is_recorded_as_a_denial(world: StaffWorld) -> None:
    case_id = world.file().case_id
    _tamper(world, case_id)
    with pytest.raises(AccessDenied, match="could not be opened"):
        access_case(world.instance, actor_for(world.users["cw"]), case_id,
                    purpose=Purpose.SUPPORT, fields=[CaseField.NARRATIVE])
    last = entries(world.instance)[-1]
    assert last["decision"] == "deny"
    assert last["detail"]["outcome"] == "vault_error"
    assert last["case"] == case_id and last["action"] == "view"


def test_a_malformed_context_value_is_a_denial_on_record(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = world.file().case_id
    before = len(entries(world.instance))
    with pytest.raises(AccessDenied):
        access_case(world.instance, actor_for(world.users["cw"]), case_id,
                    purpose=Purpose.SUPPORT, context={"status_evidence": "bogus"})
    after = entries(world.instance)
    assert len(after) == before + 1 and after[-1]["decision"] == "deny"


def test_a_corrupt_case_row_is_a_denial_on_record(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = world.file().case_id
    with world.instance.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == case_id).values(crime_type="no-such"))
    before = len(entries(world.instance))
    with pytest.raises(AccessDenied):
        access_case(world.instance, actor_for(world.users["cw"]), case_id,
                    purpose=Purpose.SUPPORT)
    after = entries(world.instance)
    assert len(after) == before + 1 and after[-1]["decision"] == "deny"
    assert after[-1]["case"] == case_id


def test_a_grant_refused_after_commit_is_a_denial_on_record(
    sqlite_world: StaffWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = sqlite_world
    case_id = world.file().case_id
    opened: list[str] = []
    monkeypatch.setattr(world.instance.vault, "open_parts",
                        lambda *a, **k: opened.append("opened"))

    def no_grant(*args: object, **kwargs: object) -> object:
        raise LedgerError("entry does not match")

    monkeypatch.setattr(world.instance.ledger, "grant", no_grant)
    with pytest.raises(AccessDenied):
        access_case(world.instance, actor_for(world.users["cw"]), case_id,
                    purpose=Purpose.SUPPORT)
    assert opened == []
    last = entries(world.instance)[-1]
    assert last["decision"] == "deny" and last["detail"]["outcome"] == "grant_refused"


def test_a_grant_needs_an_entry_for_the_same_kind_of_actor(sqlite_world: StaffWorld) -> None:
    from safereport.domain.vocabulary import Action, DataCategory
    from safereport.services.access import decide_and_record

    world = sqlite_world
    case_id = world.file().case_id
    asked = {"action": Action.VIEW, "purpose": Purpose.SUPPORT,
             "categories": [DataCategory.CRIME_DETAILS]}
    by_cw, cw_index = decide_and_record(world.instance, actor_for(world.users["cw"]), case_id,
                                        **asked)  # type: ignore[arg-type]
    by_sup, sup_index = decide_and_record(world.instance, actor_for(world.users["sup1"]),
                                          case_id, **asked)  # type: ignore[arg-type]
    assert by_cw.allowed and by_sup.allowed and by_cw.rules == by_sup.rules
    assert world.instance.ledger.grant(by_sup, sup_index, case_id).ledger_index == sup_index
    with pytest.raises(LedgerError, match=r"actor\.role"):
        world.instance.ledger.grant(by_sup, cw_index, case_id)


def test_a_seal_needs_its_decision_in_the_same_transaction(sqlite_world: StaffWorld) -> None:
    """The ledger mints a Seal only for an entry appended in the writing transaction and
    recording that very decision: a committed entry of an earlier transaction, another
    decision's entry, or another case seals nothing (issue 12)."""
    from safereport.domain.vocabulary import DataCategory
    from safereport.services.access import decide_and_record, decide_write

    world = sqlite_world
    instance = world.instance
    case_id = world.file().case_id
    other_case = world.file().case_id
    cw = actor_for(world.users["cw"])
    earlier, earlier_index = decide_and_record(
        instance, cw, case_id, action=Action.UPDATE, purpose=Purpose.SUPPORT,
        categories=[DataCategory.CASE_NOTES])
    assert earlier.allowed
    with instance.engine.begin() as conn:
        with pytest.raises(LedgerError):  # its entry is not in this transaction's writes...
            instance.ledger.seal(conn, earlier, earlier_index + 10_000, case_id)
        decision, write = decide_write(instance, conn, cw, case_id, purpose=Purpose.SUPPORT,
                                       categories=[DataCategory.CASE_NOTES])
        assert write is not None
        with pytest.raises(LedgerError):  # ...nor does another case's seal come from it
            instance.ledger.seal(conn, decision, write.index, other_case)
        with pytest.raises(AccessDenied):  # a field of another category than decided
            write.seal_fields({CaseField.NATIONALITY: "Examplestan"})
    with instance.engine.connect() as conn, pytest.raises(LedgerError):
        instance.ledger.seal(conn, earlier, earlier_index, case_id)  # no transaction: none


def test_a_write_denied_by_the_guard_gets_no_write(sqlite_world: StaffWorld) -> None:
    from safereport.domain.vocabulary import DataCategory
    from safereport.services.access import decide_write

    world = sqlite_world
    case_id = world.file().case_id
    admin = actor_for(world.users["admin"])
    with world.instance.engine.begin() as conn:
        decision, write = decide_write(world.instance, conn, admin, case_id,
                                       purpose=Purpose.SUPPORT,
                                       categories=[DataCategory.CASE_NOTES])
    assert not decision.allowed and write is None
    assert entries(world.instance)[-1]["decision"] == "deny"


def _field_reads(ran: list[str]) -> list[str]:
    """The statements among ``ran`` that read the vault's field rows."""
    return [s for s in ran if s.lstrip().upper().startswith("SELECT") and "vault_fields" in s]


def _parts() -> tuple[Part, Part]:
    # The first asks for the name without its category: withheld. Both ask for the name.
    return (
        Part((CaseField.NARRATIVE, CaseField.NAME),
             frozenset({FIELD_CATEGORY[CaseField.NARRATIVE]})),
        Part((CaseField.NAME, CaseField.PHONE),
             frozenset({FIELD_CATEGORY[CaseField.NAME], FIELD_CATEGORY[CaseField.PHONE]})),
    )


def test_a_pages_parts_open_from_one_read_of_the_case(world: StaffWorld) -> None:
    """Issue 13: a page's parts each open what their own grant covers, and the case's fields
    and key are read once for all of them (twice before, once per part)."""
    case_id = world.file().case_id
    first, second = _parts()
    with statements_run(world.instance.engine) as ran:
        opened = access_case_parts(world.instance, actor_for(world.users["cw"]), case_id,
                                   [first, second], purpose=Purpose.SUPPORT)
    reads = _field_reads(ran)
    assert len(reads) == 1, reads
    one, two = opened
    assert isinstance(one, CaseAccess) and isinstance(two, CaseAccess)
    assert one.values == {CaseField.NARRATIVE: "He took my passport and hit me."}
    assert one.withheld == {CaseField.NAME: "not_in_decision"}
    assert two.values == {CaseField.NAME: "Maria Exemplo", CaseField.PHONE: "07700 900123"}
    assert two.withheld == {}
    assert one.grant.decision.categories == first.categories
    assert two.grant.decision.categories == second.categories


def test_a_part_the_vault_cannot_open_is_a_denial_on_record_and_the_others_open(
    world: StaffWorld,
) -> None:
    """Opened from one read, the parts still fail apart: the tampered narrative refuses its
    own part (a denial on record), the name and phone still open."""
    case_id = world.file().case_id
    _tamper(world, case_id)
    before = len(entries(world.instance))
    one, two = access_case_parts(world.instance, actor_for(world.users["cw"]), case_id,
                                 list(_parts()), purpose=Purpose.SUPPORT)
    assert isinstance(one, AccessDenied) and "could not be opened" in str(one)
    assert isinstance(two, CaseAccess) and two.values[CaseField.NAME] == "Maria Exemplo"
    recorded = entries(world.instance)[before:]
    # Two allows (committed before anything opened), then the one part's denial.
    assert [e["decision"] for e in recorded] == ["allow", "allow", "deny"]
    assert recorded[-1]["detail"]["outcome"] == "vault_error"
    assert all(e["case"] == case_id and e["action"] == "view" for e in recorded)


def test_a_key_that_cannot_be_unwrapped_fails_every_part_on_record(world: StaffWorld) -> None:
    case_id = world.file().case_id
    with world.instance.engine.begin() as conn:
        conn.execute(update(vault_case_keys).where(vault_case_keys.c.case_id == case_id)
                     .values(kek_id="no-such-kek"))
    before = len(entries(world.instance))
    opened = access_case_parts(world.instance, actor_for(world.users["cw"]), case_id,
                               list(_parts()), purpose=Purpose.SUPPORT)
    assert all(isinstance(part, AccessDenied) for part in opened)
    recorded = entries(world.instance)[before:]
    assert [e["decision"] for e in recorded] == ["allow", "allow", "deny", "deny"]
    assert [e["detail"]["outcome"] for e in recorded[2:]] == ["vault_error"] * 2
