"""Search by reference finds a case whatever door it came through (issue 17, review problem 7).

A report made on the website was not found by its reference typed exactly as the case list
showed it: the search stripped the dashes and compared the result with the reference column
(which keeps them), and only staff-filed cases also had the reference in the blind index.
"""

from __future__ import annotations

import pytest
from tests.support.staff_world import StaffWorld

from safereport.domain.vocabulary import DataCategory, Purpose
from safereport.services import casework, disclosure
from safereport.services.intake import parse_submission, submit_report
from safereport.vault.blind import BlindKind


def _typed_ways(reference: str) -> list[str]:
    return [reference, reference.lower(), reference.replace("-", ""),
            reference.replace("-", " "), f"  {reference.lower().replace('-', ' ')} "]


@pytest.mark.parametrize("mode", ["anonymous", "identified"])
def test_a_web_report_is_found_by_its_reference(sqlite_world: StaffWorld, mode: str) -> None:
    world = sqlite_world
    data = {"mode": mode, "crime_type": "domestic_abuse",
            "narrative": "He took my passport and will not give it back."}
    if mode == "identified":
        data |= {"name": "Ana Exemplo", "phone": "07700 900555"}
    receipt = submit_report(world.instance, parse_submission(data))
    cw = world.users["cw"]
    [listed] = [c for c in casework.list_cases(world.instance, cw) if c.id == receipt.case_id]
    for typed in _typed_ways(listed.reference):
        found = casework.search_cases(world.instance, cw, BlindKind.REFERENCE, typed)
        assert [c.id for c in found] == [receipt.case_id], typed
    # Another organisation finds nothing, and nothing else matches.
    assert casework.search_cases(world.instance, world.users["other_cw"], BlindKind.REFERENCE,
                                 listed.reference) == []
    assert casework.search_cases(world.instance, cw, BlindKind.REFERENCE,
                                 "SR-AAAA-AAAA-AAAA") == []


def test_a_staff_filed_report_is_still_found(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    filed = world.file("cw")
    for typed in _typed_ways(filed.reference):
        found = casework.search_cases(world.instance, world.users["cw"], BlindKind.REFERENCE,
                                      typed)
        assert [c.id for c in found] == [filed.case_id], typed


def test_an_ask_by_a_reference_read_out_without_dashes_finds_the_case(
    sqlite_world: StaffWorld,
) -> None:
    world = sqlite_world
    receipt = submit_report(world.instance, parse_submission(
        {"mode": "anonymous", "crime_type": "domestic_abuse", "narrative": "Synthetic."}))
    disclosure.ask_for_disclosure(
        world.instance, world.users["officer"], holder_org_id=world.orgs["support"],
        reference=receipt.reference.lower().replace("-", " "), purpose=Purpose.SAFEGUARDING,
        categories=[DataCategory.CONTACT])
    received, _ = disclosure.asks(world.instance, world.users["cw"])
    assert [a.case_id for a in received] == [receipt.case_id]


@pytest.mark.parametrize("mode", ["identified", "codename"])
def test_a_web_report_is_found_by_her_phone_number(sqlite_world: StaffWorld, mode: str) -> None:
    world = sqlite_world
    data = {"mode": mode, "crime_type": "domestic_abuse", "phone": "07700 900777",
            "narrative": "He reads my messages."}
    if mode == "identified":
        data["name"] = "Ana Exemplo"
    receipt = submit_report(world.instance, parse_submission(data))
    for typed in ("07700 900777", "07700900777", "+44 7700 900777"):
        found = casework.search_cases(world.instance, world.users["cw"], BlindKind.PHONE, typed)
        assert [c.id for c in found] == [receipt.case_id], typed
    assert casework.search_cases(world.instance, world.users["other_cw"], BlindKind.PHONE,
                                 "07700 900777") == []


def test_a_staff_filed_report_is_found_by_its_claim_code_until_she_claims_it(
    world: StaffWorld,
) -> None:
    """She brings the slip with her claim code to a drop-in before she has used it."""
    from sqlalchemy import select
    from tests.support.staff_client import signed_in

    from safereport.ledger.record import parse_leaf
    from safereport.services.claim import claim_case
    from safereport.store.ledger import ledger_entries

    filed = world.file("cw")
    typed = f"  {filed.claim_code.lower().replace('-', ' ')} "
    found = casework.search_claim_code(world.instance, world.users["sup1"], typed)
    assert [c.id for c in found] == [filed.case_id]
    with world.instance.engine.connect() as conn:
        leaf = conn.execute(select(ledger_entries.c.leaf)
                            .order_by(ledger_entries.c.idx.desc()).limit(1)).scalar_one()
    entry = parse_leaf(bytes(leaf))
    assert entry["case"] == filed.case_id and entry["detail"] == {"event": "search_claim_code"}
    assert casework.search_claim_code(world.instance, world.users["other_cw"],
                                      filed.claim_code) == []
    assert casework.search_claim_code(world.instance, world.users["cw"], "") == []
    page = signed_in(world, "cw").get(f"/staff/search?kind=claim_code&q={filed.claim_code}")
    assert filed.reference in page.text and "Exact matches for the claim code" in page.text
    claim_case(world.instance, filed.claim_code)
    assert casework.search_claim_code(world.instance, world.users["cw"],
                                      filed.claim_code) == []  # spent
