"""Casework as UK services practise it (issue 17): dormant cases and reopening, outcome
measures at entry and exit, the MARAC meeting's actions, consents with review dates, and the
funders' return counting them; recipients that hold no cases read what was released to them.
On SQLite and PostgreSQL (``world``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from tests.services.disclosure.test_recipients import _marac_referral
from tests.support.staff_client import csrf_of, signed_in
from tests.support.staff_world import StaffWorld

from safereport.domain.case import CaseStatus
from safereport.domain.fields import CaseField
from safereport.domain.vocabulary import (
    ActorRole,
    DataCategory,
    OrgKind,
    Purpose,
    Recipient,
)
from safereport.errors import AccessDenied, ConfigError, InvalidInput
from safereport.ledger.record import parse_leaf
from safereport.services import auth, casework, disclosure, practice, provenance, returns
from safereport.services.disclosure import DisclosureForm, DisclosureStatus
from safereport.services.users import add_org
from safereport.store.core import cases, consents
from safereport.store.ledger import ledger_entries
from safereport.store.provenance import standing_consent
from safereport.store.staff import case_status_changes, marac_actions


def _last_entry(world: StaffWorld) -> dict[str, object]:
    with world.instance.engine.connect() as conn:
        leaf = conn.execute(select(ledger_entries.c.leaf)
                            .order_by(ledger_entries.c.idx.desc()).limit(1)).scalar_one()
    return parse_leaf(bytes(leaf))


def _row(world: StaffWorld, measure: str) -> tuple[int | None, ...]:
    table = returns.funders_return(world.instance, world.users["sup1"],
                                   year=datetime.now(UTC).year)
    return dict(table.rows)[measure]


def _now_column(period: returns.Period = returns.Period.QUARTER) -> int:
    now = datetime.now(UTC)
    return now.month - 1 if period is returns.Period.MONTH else (now.month - 1) // 3


# ---- dormant, reopened, counted -------------------------------------------------------------


def test_a_case_made_dormant_is_shown_so_reopened_and_counted(world: StaffWorld) -> None:
    cw = world.users["cw"]
    filed = [world.file("cw", phone=f"07700 90012{i}") for i in range(6)]
    for report in filed:
        casework.change_status(world.instance, cw, report.case_id, CaseStatus.DORMANT)
    assert _last_entry(world)["detail"] == {"event": "status"}  # decided and recorded
    page = casework.case_page(world.instance, cw, filed[0].case_id)
    assert page.summary.status is CaseStatus.DORMANT
    with world.instance.engine.connect() as conn:
        history = conn.execute(select(case_status_changes.c.from_status,
                                      case_status_changes.c.to_status)
                               .where(case_status_changes.c.case_id == filed[0].case_id)).all()
    assert [tuple(h) for h in history] == [("new", "dormant")]
    # The return counts them apart from open cases (six: above the small-cell limit).
    column = _now_column()
    assert _row(world, "Cases dormant at the end of the period")[column] == 6
    assert _row(world, "Cases open at the end of the period (not dormant)")[column] == 0
    # Reopened: back in progress, and counted open again.
    casework.change_status(world.instance, cw, filed[0].case_id, CaseStatus.IN_PROGRESS)
    assert casework.case_page(world.instance, cw,
                              filed[0].case_id).summary.status is CaseStatus.IN_PROGRESS
    assert _row(world, "Cases dormant at the end of the period")[column] == 5
    assert _row(world, "Cases open at the end of the period (not dormant)")[column] is None  # 1
    # A dormant case can be closed with a reason, like any open one.
    casework.change_status(world.instance, cw, filed[1].case_id, CaseStatus.CLOSED,
                           closure_reason="dropped_out")
    assert "dropped out" in casework.case_page(world.instance, cw, filed[1].case_id).closure


def test_an_open_case_untouched_for_long_is_flagged_inactive(world: StaffWorld) -> None:
    quiet, busy = world.file("cw"), world.file("cw", phone="07700 900999")
    long_ago = datetime.now(UTC) - timedelta(days=casework.INACTIVE_DAYS + 1)
    with world.instance.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == quiet.case_id)
                     .values(updated_at=long_ago, created_at=long_ago))
    flags = {c.id: c.inactive for c in casework.list_cases(world.instance, world.users["cw"])}
    assert flags == {quiet.case_id: True, busy.case_id: False}
    casework.change_status(world.instance, world.users["cw"], quiet.case_id, CaseStatus.DORMANT)
    flags = {c.id: c.inactive for c in casework.list_cases(world.instance, world.users["cw"])}
    assert flags[quiet.case_id] is False  # dormant: no longer prompted


def test_dormant_on_the_case_page_and_the_list(world: StaffWorld) -> None:
    filed = world.file("cw")
    client = signed_in(world, "cw")
    page = client.get(f"/staff/cases/{filed.case_id}").text
    assert '<option value="dormant">dormant (open, but no contact with her for now)' in page
    token = csrf_of(page)
    assert client.post(f"/staff/cases/{filed.case_id}/status", data={
        "csrf_token": token, "status": "dormant"}).status_code == 303
    page = client.get(f"/staff/cases/{filed.case_id}").text
    assert "open, but no contact with her for now (reopen it" in page
    assert "in progress (reopen it)" in page
    assert client.get("/staff/cases?status=dormant").text.count(filed.reference) == 1


# ---- outcome measures -----------------------------------------------------------------------


def test_outcomes_at_entry_and_exit(world: StaffWorld) -> None:
    cw = world.users["cw"]
    filed = [world.file("cw", phone=f"07700 90013{i}") for i in range(5)]
    for report in filed:
        practice.record_outcomes(world.instance, cw, report.case_id, "entry",
                                 {"safety": "1", "abuse": "1", "wellbeing": "2",
                                  "confidence": ""})
    assert _last_entry(world)["detail"] == {"event": "outcomes_entry"}
    for report in filed:
        practice.record_outcomes(world.instance, cw, report.case_id, "exit",
                                 {"safety": "4", "abuse": "3", "wellbeing": "2"})
    page = casework.case_page(world.instance, cw, filed[0].case_id)
    assert page.outcomes == {"entry": {"safety": 1, "abuse": 1, "wellbeing": 2},
                             "exit": {"safety": 4, "abuse": 3, "wellbeing": 2}}
    column = _now_column()
    assert _row(world, "Cases with outcomes scored at the start and at the end of support"
                )[column] == 5
    assert _row(world, "Of those, at the end: feels safer than at the start")[column] == 5
    assert _row(world, "Of those, at the end: the abuse has stopped or reduced")[column] == 5
    assert _row(world, "Of those, at the end: her wellbeing is better than at the start"
                )[column] == 0
    # A correction replaces the score; four improved is a small cell, published as "<5".
    practice.record_outcomes(world.instance, cw, filed[0].case_id, "exit", {"safety": "1"})
    assert _row(world, "Of those, at the end: feels safer than at the start")[column] is None
    csv = returns.to_csv(returns.funders_return(world.instance, world.users["sup1"],
                                                year=datetime.now(UTC).year))
    assert filed[0].reference not in csv and filed[0].case_id not in csv
    for bad, message in ((("later", {"safety": "1"}), "at the start or at the end"),
                         (("entry", {"safety": "9"}), "choose one of the answers"),
                         (("entry", {"mood": "1"}), "unknown outcome measure"),
                         (("entry", {"safety": ""}), "at least one")):
        with pytest.raises(InvalidInput, match=message):
            practice.record_outcomes(world.instance, cw, filed[0].case_id, *bad)
    with pytest.raises(InvalidInput, match="no such case"):
        practice.record_outcomes(world.instance, world.users["other_cw"], filed[0].case_id,
                                 "entry", {"safety": "1"})
    # The analyst of the same organisation neither reads nor writes them (refusal on record).
    assert casework.case_page(world.instance, world.users["analyst"],
                              filed[0].case_id).outcomes == {}
    with pytest.raises(AccessDenied):
        practice.record_outcomes(world.instance, world.users["analyst"], filed[0].case_id,
                                 "entry", {"safety": "1"})
    assert _last_entry(world)["decision"] == "deny"


def test_outcomes_from_the_case_page(world: StaffWorld) -> None:
    filed = world.file("cw")
    client = signed_in(world, "cw")
    token = csrf_of(client.get(f"/staff/cases/{filed.case_id}").text)
    assert client.post(f"/staff/cases/{filed.case_id}/outcomes/entry", data={
        "csrf_token": token, "o-safety": "2", "o-abuse": "1"}).status_code == 303
    page = client.get(f"/staff/cases/{filed.case_id}").text
    assert 'data-outcome="entry-safety">Not very safe<' in page
    assert 'data-outcome="entry-abuse">Yes, as much or more<' in page
    refused = client.post(f"/staff/cases/{filed.case_id}/outcomes/entry", data={
        "csrf_token": token, "o-safety": "7"})
    assert refused.status_code == 400 and "choose one of the answers" in refused.text


# ---- the MARAC meeting's actions ------------------------------------------------------------


def test_marac_actions_recorded_against_the_referral(world: StaffWorld) -> None:
    case_id, referral = _marac_referral(world)
    cw = world.users["cw"]
    later = (datetime.now(UTC) + timedelta(days=14)).strftime("%Y-%m-%d")
    past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    [(listed, words)] = practice.marac_referrals(world.instance, cw, case_id)
    assert listed == referral and words.startswith("released")
    first = practice.add_marac_action(world.instance, cw, case_id, "Housing to fit a sanctuary "
                                      "scheme", agency="housing", due=past, referral_id=referral)
    assert _last_entry(world)["detail"] == {"event": "marac_action"}
    practice.add_marac_action(world.instance, cw, case_id, "Flag her address on police systems",
                              agency="police", due=later)
    with world.instance.engine.connect() as conn:
        rows = conn.execute(select(marac_actions.c.sealed, marac_actions.c.request_id)).all()
    assert all(b"sanctuary" not in bytes(r.sealed) and b"Flag" not in bytes(r.sealed)
               for r in rows)
    assert {r.request_id for r in rows} == {referral, None}
    shown = casework.case_page(world.instance, cw, case_id).marac_actions
    assert [(a.text, a.agency_label, a.overdue, a.referral_id) for a in shown] == [
        ("Housing to fit a sanctuary scheme", "Housing", True, referral),
        ("Flag her address on police systems", "Police", False, None)]
    practice.complete_marac_action(world.instance, cw, case_id, first)
    assert _last_entry(world)["detail"] == {"event": "marac_action_done"}
    done = casework.case_page(world.instance, cw, case_id).marac_actions[0]
    assert done.done_at is not None and not done.overdue
    with pytest.raises(InvalidInput, match="no such open MARAC action"):
        practice.complete_marac_action(world.instance, cw, case_id, first)
    other = world.file("cw", phone="07700 900555")
    for kwargs, message in (({"agency": "fbi", "due": later}, "agency"),
                            ({"agency": "police", "due": "Thursday"}, "YYYY-MM-DD"),
                            ({"agency": "police", "due": later, "referral_id": referral},
                             "MARAC referrals")):
        target = other.case_id if "referral_id" in kwargs else case_id
        with pytest.raises(InvalidInput, match=message):
            practice.add_marac_action(world.instance, cw, target, "x", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="no such case"):
        practice.add_marac_action(world.instance, world.users["other_cw"], case_id, "probe",
                                  agency="police", due=later)
    # The MARAC member reads the referral in the inbox, never the case or its actions.
    with pytest.raises(InvalidInput, match="no such case"):
        casework.case_page(world.instance, world.users["marac"], case_id)


def test_marac_actions_from_the_case_page(world: StaffWorld) -> None:
    case_id, referral = _marac_referral(world)
    client = signed_in(world, "cw")
    page = client.get(f"/staff/cases/{case_id}").text
    assert f'<option value="{referral}" selected>MARAC referral: released' in page
    response = client.post(f"/staff/cases/{case_id}/marac-actions", data={
        "csrf_token": csrf_of(page), "action": "IDVA to call her weekly", "agency": "idva",
        "due": "2026-12-24", "referral": referral})
    assert response.status_code == 303
    page = client.get(f"/staff/cases/{case_id}").text
    assert "IDVA to call her weekly" in page and "24 Dec 2026" in page


# ---- consents with a review date ------------------------------------------------------------


def test_a_consent_past_its_review_date_stops_counting(world: StaffWorld) -> None:
    filed = world.file("cw", consents=((Recipient.MARAC, Purpose.MARAC),))
    facts = provenance.case_facts(world.instance, world.users["cw"], filed.case_id)
    assert facts.consents[0].review_on is None  # recorded in person: no date until confirmed
    world.confirm_consents(filed)
    [fact] = provenance.case_facts(world.instance, world.users["cw"], filed.case_id).consents
    expected = datetime.now(UTC) + timedelta(days=world.instance.settings.consent_review_days)
    assert fact.stands and fact.review_on is not None
    assert abs((fact.review_on - expected).total_seconds()) < 3600
    assert not fact.review_soon and not facts.due_for_review
    with world.instance.engine.connect() as conn:
        assert standing_consent(conn, filed.case_id, Recipient.MARAC, Purpose.MARAC)
    # Within the notice period: flagged on the case page, still counting.
    with world.instance.engine.begin() as conn:
        conn.execute(update(consents).values(review_on=datetime.now(UTC) + timedelta(days=3)))
    facts = provenance.case_facts(world.instance, world.users["cw"], filed.case_id)
    assert facts.consents[0].stands and facts.due_for_review == facts.consents
    # Past it: it no longer counts (fail closed), so a MARAC referral resting on it is
    # conditional again (justification, second supervisor), and the page says why.
    with world.instance.engine.begin() as conn:
        conn.execute(update(consents).values(review_on=datetime.now(UTC) - timedelta(days=1)))
    with world.instance.engine.connect() as conn:
        assert not standing_consent(conn, filed.case_id, Recipient.MARAC, Purpose.MARAC)
    [fact] = provenance.case_facts(world.instance, world.users["cw"], filed.case_id).consents
    assert not fact.stands and fact.review_passed
    request_id = disclosure.request_disclosure(world.instance, world.users["cw"], DisclosureForm(
        case_id=filed.case_id, recipient_org_id=world.orgs["marac"], purpose=Purpose.MARAC,
        categories=frozenset({DataCategory.CRIME_DETAILS})))
    view = disclosure.view_disclosure(world.instance, world.users["cw"], request_id)
    assert view.status is DisclosureStatus.NEEDS_JUSTIFICATION
    page = signed_in(world, "cw").get(f"/staff/cases/{filed.case_id}").text
    assert "1 of her consents is due for review" in page
    assert "passed: no longer counts" in page
    # Reviewed with her and recorded again (two people): it counts again, flag gone.
    provenance.record_consent_in_person(world.instance, world.users["cw"], filed.case_id,
                                        Recipient.MARAC, Purpose.MARAC)
    world.confirm_consents(filed)
    facts = provenance.case_facts(world.instance, world.users["cw"], filed.case_id)
    assert any(f.stands for f in facts.consents) and not facts.due_for_review


def test_a_consent_with_no_review_date_never_counts(world: StaffWorld) -> None:
    filed = world.file("cw", consents=((Recipient.MARAC, Purpose.MARAC),))
    world.confirm_consents(filed)
    with world.instance.engine.begin() as conn:
        conn.execute(update(consents).values(review_on=None))
        assert not standing_consent(conn, filed.case_id, Recipient.MARAC, Purpose.MARAC)


def test_the_review_period_is_a_setting(tmp_path: object) -> None:
    from pathlib import Path

    from safereport.config import load_settings

    folder = Path(str(tmp_path))
    (folder / "config.toml").write_text("consent_review_days = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="consent_review_days"):
        load_settings(folder)
    (folder / "config.toml").write_text("consent_review_days = 180\n", encoding="utf-8")
    assert load_settings(folder).consent_review_days == 180


def test_the_review_date_follows_the_setting(world: StaffWorld) -> None:
    world.instance.settings = replace(world.instance.settings, consent_review_days=30)
    filed = world.file("cw", consents=((Recipient.HOUSING, Purpose.SAFEGUARDING),))
    world.confirm_consents(filed)
    [fact] = provenance.case_facts(world.instance, world.users["cw"], filed.case_id).consents
    assert fact.review_on is not None and fact.review_soon  # 30 days: within the notice


# ---- recipients that hold no cases ----------------------------------------------------------


def _release_to(world: StaffWorld, org: str, kind: OrgKind) -> str:
    filed = world.file("cw", consents=((Recipient(kind.value), Purpose.SAFEGUARDING),))
    world.confirm_consents(filed)
    request_id = disclosure.request_disclosure(world.instance, world.users["cw"], DisclosureForm(
        case_id=filed.case_id, recipient_org_id=org, purpose=Purpose.SAFEGUARDING,
        categories=frozenset({DataCategory.IDENTITY, DataCategory.CRIME_DETAILS})))
    assert disclosure.view_disclosure(world.instance, world.users["cw"],
                                      request_id).status is DisclosureStatus.RELEASED
    return request_id


@pytest.mark.parametrize("kind", [OrgKind.HOUSING, OrgKind.LOCAL_AUTHORITY])
def test_every_recipient_kind_reads_its_package(world: StaffWorld, kind: OrgKind) -> None:
    """Housing and the council, like health and the MARAC: staff with the role
    ``marac_member`` (POLICY.md's closed vocabulary has no role per recipient kind, and the
    guard gives them no record) read what was released to their organisation, read-only,
    through the road."""
    with world.instance.engine.begin() as conn:
        org = add_org(conn, f"Testtown {kind.value}", kind)
        user_id = auth.create_user(conn, org_id=org, username=f"reader_{kind.value}",
                                   display_name="Reader", role=ActorRole.MARAC_MEMBER,
                                   password="correct horse battery staple",
                                   hasher=world.instance.settings.password_hasher)
        reader = auth.get_user(conn, user_id)
    assert reader is not None
    request_id = _release_to(world, org, kind)
    [item] = disclosure.inbox(world.instance, reader)
    assert not item.can_take_in
    package = disclosure.read_package(world.instance, reader, request_id)
    assert package.values and _last_entry(world)["detail"]["event"] == "package_opened"


def test_a_court_reads_what_was_released_under_a_court_order(world: StaffWorld) -> None:
    """The court, too, gets a read-only inbox (issue 17): C-court needs a justification, a
    supervisor's approval and a notice to her before anything is released to it."""
    from safereport.services.claim import claim_case

    with world.instance.engine.begin() as conn:
        org = add_org(conn, "Testtown Family Court", OrgKind.COURT)
        user_id = auth.create_user(conn, org_id=org, username="court_clerk",
                                   display_name="Clerk", role=ActorRole.MARAC_MEMBER,
                                   password="correct horse battery staple",
                                   hasher=world.instance.settings.password_hasher)
        clerk = auth.get_user(conn, user_id)
    assert clerk is not None
    filed = world.file("cw")
    claim_case(world.instance, filed.claim_code)  # she has a door: the notice can reach her
    request_id = disclosure.request_disclosure(world.instance, world.users["cw"], DisclosureForm(
        case_id=filed.case_id, recipient_org_id=org, purpose=Purpose.COURT_ORDER,
        categories=frozenset({DataCategory.CRIME_DETAILS})))
    assert disclosure.inbox(world.instance, clerk) == []  # nothing before the obligations
    disclosure.add_justification(world.instance, world.users["cw"], request_id,
                                 "Order of the family court, case FC-123 (synthetic).")
    disclosure.approve(world.instance, world.users["sup1"], request_id)
    assert disclosure.view_disclosure(world.instance, world.users["cw"],
                                      request_id).status is DisclosureStatus.RELEASED
    [item] = disclosure.inbox(world.instance, clerk)
    assert not item.can_take_in
    package = disclosure.read_package(world.instance, clerk, request_id)
    assert package.values and _last_entry(world)["detail"]["event"] == "package_opened"


def test_health_staff_sign_in_and_read_a_referral(world: StaffWorld) -> None:
    request_id = _release_to(world, world.orgs["health"], OrgKind.HEALTH)
    client = signed_in(world, "health")
    assert f"/staff/inbox/{request_id}" in client.get("/staff/inbox").text
    page = client.get(f"/staff/inbox/{request_id}")
    assert page.status_code == 200 and "He took my passport and hit me." in page.text
    assert client.get("/staff/cases").status_code == 403  # no casework for a recipient


# ---- transfer to another area ---------------------------------------------------------------


def test_a_case_transferred_to_another_area_with_a_second_supervisor(world: StaffWorld) -> None:
    sup1, sup2, cw = world.users["sup1"], world.users["sup2"], world.users["cw"]
    filed = world.file("cw")
    there = world.orgs["other_support"]
    assert practice.transfer_organisations(world.instance, cw) == [(there, "Other Support")]
    request_id = practice.request_transfer(world.instance, sup1, filed.case_id, there,
                                           "She has moved; the MARAC there will hear it.")
    view = disclosure.view_disclosure(world.instance, sup1, request_id)
    # Not on one person's word: a second supervisor must approve (C-safeguarding, marac).
    assert view.status is DisclosureStatus.NEEDS_APPROVAL and view.purpose is Purpose.MARAC
    assert [t.plain_status for t in practice.transfers_for_case(
        world.instance, cw, filed.case_id)] == ["needs approval"]
    with pytest.raises(InvalidInput, match="second supervisor"):
        disclosure.approve(world.instance, sup1, request_id)
    with pytest.raises(InvalidInput, match="only a supervisor"):
        disclosure.approve(world.instance, cw, request_id)
    assert disclosure.inbox(world.instance, world.users["other_cw"]) == []
    disclosure.approve(world.instance, sup2, request_id)
    [item] = disclosure.inbox(world.instance, world.users["other_cw"])
    assert item.transfer and item.can_take_in
    # The service there takes it into its casework: a case of its own, read through the road.
    new_case = disclosure.accept_package(world.instance, world.users["other_cw"], request_id)
    theirs = casework.case_page(world.instance, world.users["other_cw"], new_case)
    assert theirs.values[CaseField.NARRATIVE] == "He took my passport and hit me."
    assert "Examplestan" in theirs.values.values()  # sealed categories go between services
    # ...and the case here is closed as transferred, decided and recorded.
    mine = casework.case_page(world.instance, cw, filed.case_id)
    assert mine.summary.status is CaseStatus.CLOSED and "Transferred" in mine.closure
    with world.instance.engine.connect() as conn:
        entries = [parse_leaf(bytes(leaf)) for leaf in conn.execute(
            select(ledger_entries.c.leaf).order_by(ledger_entries.c.idx)).scalars()]
    [closing] = [e for e in entries if e["detail"].get("event") == "transfer_completed"]
    assert closing["case"] == filed.case_id and closing["decision"] != "deny"
    assert closing["detail"]["taken_in_by"] == f"user:{world.users['other_cw'].id}"
    [shown] = practice.transfers_for_case(world.instance, cw, filed.case_id)
    assert shown.plain_status.startswith("taken into Other Support's casework")
    # Taking it in again changes nothing.
    assert disclosure.accept_package(world.instance, world.users["other_cw"],
                                     request_id) == new_case


def test_a_transfer_goes_only_to_a_support_service_and_needs_a_reason(
    world: StaffWorld,
) -> None:
    filed = world.file("cw")
    for org in ("marac", "police", "support"):
        with pytest.raises(InvalidInput, match="support service in her new area"):
            practice.request_transfer(world.instance, world.users["sup1"], filed.case_id,
                                      world.orgs[org], "moved")
    with pytest.raises(InvalidInput, match="say why"):
        practice.request_transfer(world.instance, world.users["sup1"], filed.case_id,
                                  world.orgs["other_support"], "  ")
    police_case = world.file("officer", sensitive=False)
    with pytest.raises(InvalidInput, match="only a support service"):
        practice.request_transfer(world.instance, world.users["officer"], police_case.case_id,
                                  world.orgs["other_support"], "moved")
    with pytest.raises(InvalidInput, match="no such case"):
        practice.request_transfer(world.instance, world.users["other_cw"], filed.case_id,
                                  world.orgs["support"], "probe")


def test_a_refused_transfer_leaves_the_case_open(world: StaffWorld) -> None:
    filed = world.file("cw")
    request_id = practice.request_transfer(world.instance, world.users["sup1"], filed.case_id,
                                           world.orgs["other_support"], "She moved.")
    disclosure.refuse(world.instance, world.users["sup2"], request_id,
                      "She has not moved yet; ask her first.")
    assert disclosure.inbox(world.instance, world.users["other_cw"]) == []
    page = casework.case_page(world.instance, world.users["cw"], filed.case_id)
    assert page.summary.status is CaseStatus.NEW
    [shown] = practice.transfers_for_case(world.instance, world.users["cw"], filed.case_id)
    assert shown.plain_status == "refused"


def test_transfer_from_the_case_page(world: StaffWorld) -> None:
    filed = world.file("cw")
    client = signed_in(world, "sup1")
    page = client.get(f"/staff/cases/{filed.case_id}").text
    assert "Hand her case to a support service in another area" in page
    response = client.post(f"/staff/cases/{filed.case_id}/transfer", data={
        "csrf_token": csrf_of(page), "to_org": world.orgs["other_support"],
        "justification": "She moved to Othertown."})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/disclosures/")
    page = client.get(f"/staff/cases/{filed.case_id}").text
    assert "To Other Support" in page and "needs approval" in page


def test_she_gives_an_expired_consent_again_on_her_own_page(world: StaffWorld) -> None:
    from safereport.services.claim import claim_case
    from safereport.services.victim import open_by_codename, set_consent

    filed = world.file("cw")
    claimed = claim_case(world.instance, filed.claim_code)
    session = open_by_codename(world.instance, claimed.codename)
    assert session is not None
    set_consent(world.instance, session, Recipient.HOUSING, Purpose.SAFEGUARDING, give=True)
    [given] = provenance.case_facts(world.instance, world.users["cw"], filed.case_id).consents
    expected = datetime.now(UTC) + timedelta(days=world.instance.settings.consent_review_days)
    assert given.stands and given.review_on is not None  # through her door: dated at once
    assert abs((given.review_on - expected).total_seconds()) < 3600
    with world.instance.engine.begin() as conn:
        conn.execute(update(consents).values(review_on=datetime.now(UTC) - timedelta(days=1)))
        assert not standing_consent(conn, filed.case_id, Recipient.HOUSING,
                                    Purpose.SAFEGUARDING)
    # Her page now shows it as not given; giving it again makes a new one that counts.
    set_consent(world.instance, session, Recipient.HOUSING, Purpose.SAFEGUARDING, give=True)
    with world.instance.engine.connect() as conn:
        assert standing_consent(conn, filed.case_id, Recipient.HOUSING, Purpose.SAFEGUARDING)
    facts = provenance.case_facts(world.instance, world.users["cw"], filed.case_id)
    assert len(facts.consents) == 2 and not facts.due_for_review
