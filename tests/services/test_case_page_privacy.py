"""What the case page shows around her case is hers too (the walk-through of 2026-12-03: an
analyst, refused every field, still read that she had asked for help with her immigration
status, and every disclosure tried). Refused every part: nothing around it. Not allowed her
immigration status: none of her consents, requests or disclosures that tell of it."""

from __future__ import annotations

from tests.support.staff_world import StaffWorld

from safereport.domain.vocabulary import DataCategory, Purpose, Recipient
from safereport.services import disclosure, provenance
from safereport.services.case_page import case_page_view
from safereport.services.disclosure import DisclosureForm


def _her_case(world: StaffWorld, holder: str = "cw", *, sensitive: bool = True) -> str:
    case = world.file(holder, consents=((Recipient.POLICE, Purpose.INVESTIGATION),),
                      sensitive=sensitive)
    provenance.record_request_in_person(
        world.instance, world.users[holder], case.case_id, Recipient.IMMIGRATION_ENFORCEMENT,
        Purpose.REGULARISATION_SUPPORT, [DataCategory.IMMIGRATION_STATUS])
    provenance.record_request_in_person(
        world.instance, world.users[holder], case.case_id, Recipient.HOUSING,
        Purpose.SAFEGUARDING, [DataCategory.ADDRESS])
    return case.case_id


def test_refused_every_part_she_shows_nothing_around_it(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = _her_case(world)
    disclosure.request_disclosure(world.instance, world.users["cw"], DisclosureForm(
        case_id=case_id, recipient_org_id=world.orgs["police"], purpose=Purpose.SAFEGUARDING,
        categories=frozenset({DataCategory.ADDRESS}), flags=frozenset({"emergency"}),
        justification="Threat to life."))
    own = case_page_view(world.instance, world.users["cw"], case_id)
    assert own.facts.requests and own.facts.consents and own.disclosures  # hers to see
    analyst = case_page_view(world.instance, world.users["analyst"], case_id)
    assert not analyst.page.values and analyst.page.notes_withheld  # P5: no view
    assert analyst.facts.consents == () and analyst.facts.requests == ()
    assert analyst.disclosures == [] and analyst.voices == [] and analyst.transfers == []
    assert analyst.marac_referrals == [] and analyst.withheld_around.startswith("Not shown")
    assert own.withheld_around == ""


def test_her_immigration_requests_only_for_who_may_read_her_status(
        sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    # Her own service may read her status (F-sealed), recorded or not: it sees them all.
    for sensitive in (True, False):
        own = case_page_view(world.instance, world.users["cw"],
                             _her_case(world, sensitive=sensitive))
        assert own.page.sensitive_allowed
        assert {f.recipient for f in own.facts.requests} == {
            Recipient.IMMIGRATION_ENFORCEMENT, Recipient.HOUSING}
    # The police may read some of a case they hold, never her status: not from her requests.
    police_case = _her_case(world, "officer", sensitive=False)
    officer = case_page_view(world.instance, world.users["officer"], police_case)
    assert officer.page.values and not officer.page.sensitive_allowed
    assert {f.recipient for f in officer.facts.requests} == {Recipient.HOUSING}
    assert "F-sealed" in officer.withheld_around
