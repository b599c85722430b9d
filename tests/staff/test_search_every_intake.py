"""Search by reference finds a case whatever door it came through (issue 17, review problem 7).

A report made on the website was not found by its reference typed exactly as the case list
showed it: the search stripped the dashes and compared the result with the reference column
(which keeps them), and only staff-filed cases also had the reference in the blind index.
"""

from __future__ import annotations

import pytest
from tests.staff._world import StaffWorld

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
