"""Casework through the guard: filing, the case page, notes, status, risk, search."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from tests.support.staff_world import StaffWorld

from safereport.domain.case import CaseStatus
from safereport.domain.fields import CaseField
from safereport.errors import AccessDenied, InvalidInput
from safereport.services import casework
from safereport.store.ledger import ledger_entries
from safereport.vault.blind import BlindKind


def _ledger_size(world: StaffWorld) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ledger_entries)).scalar_one())


def test_caseworker_files_and_reads_a_case(world: StaffWorld) -> None:
    filed = world.file()
    assert filed.claim_code and filed.reference
    before = _ledger_size(world)
    page = casework.case_page(world.instance, world.users["cw"], filed.case_id)
    assert page.values[CaseField.NAME] == "Maria Exemplo"
    assert page.values[CaseField.IMMIGRATION_STATUS] == "spousal visa expired"
    assert _ledger_size(world) == before + 2  # general categories, then the sealed ones


def test_other_organisation_cannot_see_the_case(sqlite_world: StaffWorld) -> None:
    filed = sqlite_world.file()
    with pytest.raises(InvalidInput, match="no such case"):
        casework.case_page(sqlite_world.instance, sqlite_world.users["other_cw"], filed.case_id)
    listed = casework.list_cases(sqlite_world.instance, sqlite_world.users["other_cw"])
    assert filed.case_id not in {c.id for c in listed}
    assert filed.case_id in {c.id for c in
                             casework.list_cases(sqlite_world.instance, sqlite_world.users["cw"])}


def test_auditor_in_same_org_gets_nothing_but_reasons(sqlite_world: StaffWorld) -> None:
    filed = sqlite_world.file()
    page = casework.case_page(sqlite_world.instance, sqlite_world.users["admin"], filed.case_id)
    assert page.values == {}
    assert page.withheld[CaseField.NAME].startswith("Withheld: ")
    assert page.notes_withheld


def test_police_case_withholds_sealed_categories_under_firewall(sqlite_world: StaffWorld) -> None:
    with pytest.raises(AccessDenied, match="sealed"):
        sqlite_world.file("officer")  # F-sealed: police may not even record them
    filed = sqlite_world.file("officer", sensitive=False)
    page = casework.case_page(sqlite_world.instance, sqlite_world.users["officer"], filed.case_id)
    assert page.values[CaseField.NAME] == "Maria Exemplo"
    assert CaseField.NATIONALITY not in page.values
    assert "F-sealed" in page.withheld[CaseField.NATIONALITY]


def test_notes_status_and_risk(sqlite_world: StaffWorld) -> None:
    w, cw = sqlite_world, sqlite_world.users["cw"]
    filed = w.file()
    casework.add_note(w.instance, cw, filed.case_id, "Called back; safe to talk on Tuesdays.")
    casework.change_status(w.instance, cw, filed.case_id, CaseStatus.IN_PROGRESS)
    with pytest.raises(InvalidInput, match="cannot become"):
        casework.change_status(w.instance, cw, filed.case_id, CaseStatus.NEW)
    checklist = casework.load_checklist(w.instance)
    answers = {item_id: ("yes" if n < 14 else "no") for n, item_id in enumerate(checklist.ids)}
    result = casework.save_risk_assessment(w.instance, cw, filed.case_id, answers)
    assert result.marac_referral_prompted
    with pytest.raises(InvalidInput, match="never lower"):
        casework.save_risk_assessment(w.instance, cw, filed.case_id, answers,
                                      judgement="standard", judgement_reason="seems fine")
    page = casework.case_page(w.instance, cw, filed.case_id)
    assert page.summary.status is CaseStatus.IN_PROGRESS
    assert [n.text for n in page.notes] == ["Called back; safe to talk on Tuesdays."]
    assert page.risk is not None and page.risk.yes_count == 14
    assert page.values[CaseField.RISK_LEVEL] == "high"


def test_search_by_phone_and_reference_through_blind_index(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    filed = w.file(phone="+44 7700 900123")
    before = _ledger_size(w)
    found = casework.search_cases(w.instance, w.users["cw"], BlindKind.PHONE, "07700900123")
    assert [c.id for c in found] == [filed.case_id]
    assert _ledger_size(w) == before + 1  # the match was decided and recorded
    by_ref = casework.search_cases(w.instance, w.users["cw"], BlindKind.REFERENCE,
                                   filed.reference.lower())
    assert [c.id for c in by_ref] == [filed.case_id]
    assert casework.search_cases(w.instance, w.users["other_cw"], BlindKind.PHONE,
                                 "07700900123") == []
