"""Recipients that hold no cases (MARAC, health, housing, the council, courts, Immigration
Enforcement for her own application) read what was released to them, through the one road.

Issue 17: the MARAC's inbox offered only "Take into our casework", which failed for every
organisation that is not a police force or a support service, so a referral approved by two
supervisors ended in a dead end.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from tests.support.staff_world import StaffWorld

from safereport.domain.fields import CaseField
from safereport.domain.vocabulary import DataCategory, Purpose, Recipient
from safereport.errors import AccessDenied, InvalidInput
from safereport.ledger.record import parse_leaf
from safereport.policy.decision import UnsafeGrantForTests
from safereport.services import disclosure
from safereport.services.disclosure import DisclosureForm, DisclosureStatus, PackageExpired
from safereport.store.core import consents
from safereport.store.ledger import ledger_entries
from safereport.store.staff import disclosure_packages


def _entries(world: StaffWorld, after: int = -1) -> list[dict[str, Any]]:
    with world.instance.engine.connect() as conn:
        rows = conn.execute(select(ledger_entries.c.idx, ledger_entries.c.leaf)
                            .where(ledger_entries.c.idx > after)
                            .order_by(ledger_entries.c.idx)).all()
    return [parse_leaf(bytes(r.leaf)) | {"idx": r.idx} for r in rows]


def _last_index(world: StaffWorld) -> int:
    entries = _entries(world)
    return int(entries[-1]["idx"]) if entries else -1


def _marac_referral(world: StaffWorld) -> tuple[str, str]:
    """A MARAC referral without her consent: a justification and a second supervisor."""
    filed = world.file("sup1")
    request_id = disclosure.request_disclosure(world.instance, world.users["sup1"], DisclosureForm(
        case_id=filed.case_id, recipient_org_id=world.orgs["marac"], purpose=Purpose.MARAC,
        categories=frozenset({DataCategory.IDENTITY, DataCategory.CRIME_DETAILS}),
        justification="High risk; MARAC on Thursday."))
    disclosure.approve(world.instance, world.users["sup2"], request_id)
    view = disclosure.view_disclosure(world.instance, world.users["sup1"], request_id)
    assert view.status is DisclosureStatus.RELEASED
    return filed.case_id, request_id


def test_marac_member_reads_a_released_referral_through_the_road(world: StaffWorld) -> None:
    case_id, request_id = _marac_referral(world)
    marac = world.users["marac"]
    [item] = disclosure.inbox(world.instance, marac)
    assert item.request_id == request_id and not item.expired and not item.can_take_in
    before = _last_index(world)
    package = disclosure.read_package(world.instance, marac, request_id)
    assert package.values == {CaseField.NARRATIVE: "He took my passport and hit me.",
                              CaseField.NAME: "Maria Exemplo"}
    assert list(package.values) == [CaseField.NARRATIVE, CaseField.NAME]  # her account first
    assert package.sender == "Safe Haven Support" and package.purpose is Purpose.MARAC
    assert any("MARAC meeting" in line for line in package.may_do)
    assert any("Immigration Enforcement" in line for line in package.may_do)
    # Decided again and recorded: the holder's disclosure to the MARAC, with who opened it.
    [entry] = _entries(world, before)
    assert entry["case"] == case_id and entry["action"] == "disclose"
    assert entry["recipient"] == "marac" and entry["decision"] != "deny"
    assert entry["detail"]["event"] == "package_opened"
    assert entry["detail"]["opened_by"] == f"user:{marac.id}"
    assert entry["detail"]["opened_by_org_kind"] == "marac"
    assert package.ledger_index == entry["idx"] and "C-safeguarding" in package.rules
    # Taking it into casework is for case holders only, and says where to read it instead.
    with pytest.raises(InvalidInput, match="read the package from the inbox"):
        disclosure.accept_package(world.instance, marac, request_id)


def test_another_organisation_cannot_open_it_and_the_attempt_is_on_record(
    sqlite_world: StaffWorld,
) -> None:
    world = sqlite_world
    _, request_id = _marac_referral(world)
    for username in ("health", "officer", "ie_officer"):
        before = _last_index(world)
        with pytest.raises(InvalidInput, match="no such package"):
            disclosure.read_package(world.instance, world.users[username], request_id)
        [entry] = _entries(world, before)
        assert entry["decision"] == "deny"
        assert entry["detail"]["outcome"] == "package_not_held"
    for junk in ("x" * 40, "../../etc", ""):
        with pytest.raises(InvalidInput, match="no such package"):
            disclosure.read_package(world.instance, world.users["marac"], junk)


def test_packages_expire_and_say_so(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    _, request_id = _marac_referral(world)
    marac = world.users["marac"]
    [item] = disclosure.inbox(world.instance, marac)
    days = world.instance.settings.package_days
    assert item.expires_at - item.received_at == timedelta(days=days)
    later = item.expires_at + timedelta(seconds=1)
    [expired] = disclosure.inbox(world.instance, marac, now=later)
    assert expired.expired
    before = _last_index(world)
    with pytest.raises(PackageExpired, match=r"expired on .* can no longer be opened"):
        disclosure.read_package(world.instance, marac, request_id, now=later)
    [entry] = _entries(world, before)
    assert entry["decision"] == "deny" and entry["detail"]["outcome"] == "package_expired"
    # Just before the end it still opens.
    disclosure.read_package(world.instance, marac, request_id,
                            now=item.expires_at - timedelta(seconds=1))


def test_a_consent_withdrawn_after_release_closes_the_package(sqlite_world: StaffWorld) -> None:
    """Health received her details with her consent; she withdrew it: the decision made at
    opening no longer allows it, so nothing opens, and the refusal is on record."""
    world = sqlite_world
    filed = world.file("cw", consents=((Recipient.HEALTH, Purpose.SAFEGUARDING),))
    world.confirm_consents(filed)
    request_id = disclosure.request_disclosure(world.instance, world.users["cw"], DisclosureForm(
        case_id=filed.case_id, recipient_org_id=world.orgs["health"],
        purpose=Purpose.SAFEGUARDING, categories=frozenset({DataCategory.CONTACT})))
    health = world.users["health"]
    assert disclosure.read_package(world.instance, health, request_id).values == {
        CaseField.PHONE: "07700 900123"}
    with world.instance.engine.begin() as conn:
        conn.execute(update(consents).where(consents.c.case_id == filed.case_id)
                     .values(withdrawn_at=consents.c.given_at))
    before = _last_index(world)
    with pytest.raises(AccessDenied, match="no longer stands"):
        disclosure.read_package(world.instance, health, request_id)
    [entry] = _entries(world, before)
    assert entry["decision"] == "deny" and entry["detail"]["event"] == "package_opened"


def test_no_package_opens_without_a_grant_for_its_own_case(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id, request_id = _marac_referral(world)
    with world.instance.engine.connect() as conn:
        pkg = conn.execute(select(disclosure_packages).where(
            disclosure_packages.c.request_id == request_id)).one()
    keys = world.instance.settings.keys_dir
    other = UnsafeGrantForTests(frozenset(DataCategory), case_id="another-case")
    with pytest.raises(AccessDenied):
        disclosure.open_released_package(other, keys, world.orgs["marac"], request_id,
                                         case_id, pkg)
    narrow = UnsafeGrantForTests(frozenset({DataCategory.IDENTITY}), case_id=case_id)
    with pytest.raises(AccessDenied):
        disclosure.open_released_package(narrow, keys, world.orgs["marac"], request_id,
                                         case_id, pkg)
    with pytest.raises(AccessDenied):
        disclosure.open_released_package(None, keys, world.orgs["marac"],  # type: ignore[arg-type]
                                         request_id, case_id, pkg)


def test_an_erased_source_closes_the_package(sqlite_world: StaffWorld) -> None:
    from safereport.store.core import cases

    world = sqlite_world
    case_id, request_id = _marac_referral(world)
    with world.instance.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == case_id)
                     .values(erased_at=cases.c.created_at))
    with pytest.raises(InvalidInput, match="erased"):
        disclosure.read_package(world.instance, world.users["marac"], request_id)
