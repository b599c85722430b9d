"""The firewall against insiders (issue 11; security review findings 2, 6, 7, 15, 16, 19).

Each test is one attack from the review, run as the insider would, and each failed on the
code before POLICY.md v2: facts that open a road to Immigration Enforcement (her consent, her
request, "automated") now come from the record or from two people, never from one caller.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update
from tests.support.ledger_entries import entries
from tests.support.staff_client import csrf_of, signed_in
from tests.support.staff_world import StaffWorld, make_staff_world

from safereport.cli import main
from safereport.domain.fields import FIELD_CATEGORY, CaseField
from safereport.domain.vocabulary import DataCategory, Purpose, Recipient, StatusEvidence
from safereport.errors import InvalidInput
from safereport.services import disclosure, provenance
from safereport.services.claim import ClaimCodeRefused, claim_case, issue_claim_code
from safereport.services.disclosure import DisclosureForm, DisclosureStatus
from safereport.services.disclosure import release as disclosure_release
from safereport.services.erasure import complete_due_erasures, request_erasure
from safereport.services.victim import open_by_codename, set_consent
from safereport.store.core import cases
from safereport.store.staff import disclosure_packages

TO_IE = (Recipient.IMMIGRATION_ENFORCEMENT, Purpose.REGULARISATION_SUPPORT)
COUNCIL = (Recipient.LOCAL_AUTHORITY, Purpose.SAFEGUARDING)
EVERYTHING = frozenset({DataCategory.IDENTITY, DataCategory.ADDRESS, DataCategory.NATIONALITY,
                        DataCategory.IMMIGRATION_STATUS, DataCategory.CRIME_DETAILS})


def _to_ie(world: StaffWorld, case_id: str, **kw: object) -> DisclosureForm:
    return DisclosureForm(case_id=case_id, recipient_org_id=world.orgs["ie"],
                          purpose=Purpose.REGULARISATION_SUPPORT, categories=EVERYTHING,
                          **kw)  # type: ignore[arg-type]


def _packages(world: StaffWorld) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(disclosure_packages)).scalar()
                   or 0)


def _ie_allows(world: StaffWorld) -> list[dict[str, object]]:
    return [e for e in entries(world.instance)
            if e.get("recipient") == "immigration_enforcement" and e["decision"] != "deny"]


# ---- the two-step insider release -----------------------------------------------------------


def test_one_caseworker_cannot_send_her_to_immigration_enforcement(world: StaffWorld) -> None:
    """Ticked consent on the filing form, then a disclosure: nothing reaches IE (service)."""
    filed = world.file("cw", consents=(TO_IE,))
    with pytest.raises(InvalidInput, match="read from her record"):
        disclosure.parse_disclosure_form(
            {"case_id": filed.case_id, "recipient_org": world.orgs["ie"],
             "purpose": "regularisation_support"}, ["identity"], ["victim_initiated"])
    request_id = disclosure.request_disclosure(world.instance, world.users["cw"],
                                               _to_ie(world, filed.case_id))
    view = disclosure.view_disclosure(world.instance, world.users["cw"], request_id)
    assert view.status is DisclosureStatus.DENIED
    assert "F-firewall" in view.rules
    assert _packages(world) == 0 and not _ie_allows(world)


def test_her_request_recorded_by_one_caseworker_counts_for_nothing(world: StaffWorld) -> None:
    filed = world.file("cw")
    asked = provenance.record_request_in_person(
        world.instance, world.users["cw"], filed.case_id, *TO_IE, EVERYTHING)
    request_id = disclosure.request_disclosure(
        world.instance, world.users["cw"], _to_ie(world, filed.case_id, victim_request_id=asked))
    assert disclosure.view_disclosure(world.instance, world.users["cw"],
                                      request_id).status is DisclosureStatus.DENIED
    assert _packages(world) == 0 and not _ie_allows(world)


def test_web_two_step_insider_release_is_refused(sqlite_world: StaffWorld) -> None:
    """The review's exact reproduction, by form, as one caseworker."""
    world = sqlite_world
    cw = signed_in(world, "cw")
    tok = csrf_of(cw.get("/staff/cases/new").text)
    r = cw.post("/staff/cases/new", data={
        "csrf_token": tok, "crime_type": "domestic_abuse", "subject_role": "victim",
        "name": "Maria Exemplo", "address": "1 Example St", "narrative": "n",
        "nationality": "Examplestan", "immigration_status": "overstayer",
        "consent": "immigration_enforcement:regularisation_support"})
    case_id = re.search(r"/staff/cases/([0-9a-f]{32})", r.text)
    assert case_id is not None
    page = cw.get(f"/staff/cases/{case_id.group(1)}").text
    assert "waiting for a second person" in page
    tok = csrf_of(cw.get(f"/staff/cases/{case_id.group(1)}/disclose").text)
    r = cw.post(f"/staff/cases/{case_id.group(1)}/disclose", data={
        "csrf_token": tok, "recipient_org": world.orgs["ie"],
        "purpose": "regularisation_support", "fact": "victim_initiated",
        "category": ["identity", "address", "nationality", "immigration_status",
                     "crime_details"]})
    assert r.status_code == 400 and "read from her record" in r.text
    tok = csrf_of(cw.get(f"/staff/cases/{case_id.group(1)}/disclose").text)
    r = cw.post(f"/staff/cases/{case_id.group(1)}/disclose", data={
        "csrf_token": tok, "recipient_org": world.orgs["ie"],
        "purpose": "regularisation_support", "category": ["identity", "immigration_status"]},
        follow_redirects=True)
    assert "denied" in r.text.lower()
    assert _packages(world) == 0 and not _ie_allows(world)


def test_police_variant_under_firewall_consent(tmp_path: Path) -> None:
    world = make_staff_world(tmp_path, f"sqlite:///{tmp_path / 'u.db'}",
                             regime="firewall-consent")
    try:
        filed = world.file("officer", consents=(TO_IE,), sensitive=False)
        form = DisclosureForm(case_id=filed.case_id, recipient_org_id=world.orgs["ie"],
                              purpose=Purpose.REGULARISATION_SUPPORT,
                              categories=frozenset({DataCategory.IDENTITY}),
                              status_evidence=StatusEvidence.SUSPECTED,
                              justification="She agreed, I say.")
        request_id = disclosure.request_disclosure(world.instance, world.users["officer"], form)
        view = disclosure.view_disclosure(world.instance, world.users["officer"], request_id)
        assert view.status is DisclosureStatus.DENIED and "C-consent" not in view.rules
        assert _packages(world) == 0 and not _ie_allows(world)
    finally:
        world.instance.close()


# ---- consent with provenance ----------------------------------------------------------------


def _safeguarding(world: StaffWorld, case_id: str) -> DisclosureForm:
    """To the council (a local authority) for safeguarding: allowed at once with her consent."""
    return DisclosureForm(case_id=case_id, recipient_org_id=world.orgs["oversight"],
                          purpose=Purpose.SAFEGUARDING,
                          categories=frozenset({DataCategory.CONTACT}))


def test_a_staff_recorded_consent_waits_for_a_second_person(world: StaffWorld) -> None:
    filed = world.file("cw")
    consent_id = provenance.record_consent_in_person(
        world.instance, world.users["cw"], filed.case_id, *COUNCIL)
    first = disclosure.request_disclosure(world.instance, world.users["cw"],
                                          _safeguarding(world, filed.case_id))
    assert disclosure.view_disclosure(world.instance, world.users["cw"],
                                      first).status is DisclosureStatus.DENIED
    provenance.confirm_consent(world.instance, world.users["sup1"], consent_id)
    second = disclosure.request_disclosure(world.instance, world.users["cw"],
                                           _safeguarding(world, filed.case_id))
    assert disclosure.view_disclosure(world.instance, world.users["cw"],
                                      second).status is DisclosureStatus.RELEASED
    facts = provenance.case_facts(world.instance, world.users["cw"], filed.case_id)
    (row,) = facts.consents
    assert (row.recorded_by, row.confirmed_by, row.stands) == ("Cw", "Sup1", True)


def test_the_recorder_cannot_confirm_her_own_record(world: StaffWorld) -> None:
    filed = world.file("cw")
    consent_id = provenance.record_consent_in_person(
        world.instance, world.users["cw"], filed.case_id, *COUNCIL)
    with pytest.raises(InvalidInput, match="second person"):
        provenance.confirm_consent(world.instance, world.users["cw"], consent_id)
    last = entries(world.instance)[-1]
    assert last["decision"] == "deny" and last["case"] == filed.case_id
    assert last["detail"]["outcome"] == "confirmation_by_recorder"
    assert not provenance.case_facts(world.instance, world.users["cw"],
                                     filed.case_id).consents[0].stands


def test_forged_and_replayed_confirmations_are_refused_on_record(
    sqlite_world: StaffWorld,
) -> None:
    world = sqlite_world
    filed = world.file("cw", consents=((Recipient.LOCAL_AUTHORITY, Purpose.SAFEGUARDING),))
    (fact,) = provenance.case_facts(world.instance, world.users["cw"], filed.case_id).waiting
    with pytest.raises(InvalidInput, match="nothing here to confirm"):
        provenance.confirm_consent(world.instance, world.users["other_cw"], fact.id)
    with pytest.raises(InvalidInput, match="nothing here to confirm"):
        provenance.confirm_consent(world.instance, world.users["sup1"], "0" * 32)
    provenance.confirm_consent(world.instance, world.users["sup1"], fact.id)
    with pytest.raises(InvalidInput, match="confirmed already"):
        provenance.confirm_consent(world.instance, world.users["sup2"], fact.id)
    outcomes = [e["detail"].get("outcome") for e in entries(world.instance)
                if e["decision"] == "deny"]
    assert outcomes.count("confirmation_not_held") == 2
    assert "confirmation_repeated" in outcomes
    # by form: the confirm button of the recorder's own record is refused with a clear line
    other = world.file("cw", consents=((Recipient.HEALTH, Purpose.SAFEGUARDING),))
    (mine,) = provenance.case_facts(world.instance, world.users["cw"], other.case_id).waiting
    cw = signed_in(world, "cw")
    tok = csrf_of(cw.get(f"/staff/cases/{other.case_id}").text)
    r = cw.post(f"/staff/cases/{other.case_id}/facts/consent/{mine.id}/confirm",
                data={"csrf_token": tok})
    assert r.status_code == 400 and "second person must confirm" in r.text


def test_consent_given_then_withdrawn(world: StaffWorld) -> None:
    filed = world.file("cw")
    claimed = claim_case(world.instance, filed.claim_code)
    session = open_by_codename(world.instance, claimed.codename)
    assert session is not None
    set_consent(world.instance, session, Recipient.LOCAL_AUTHORITY, Purpose.SAFEGUARDING,
                give=True)
    given = disclosure.request_disclosure(world.instance, world.users["cw"],
                                          _safeguarding(world, filed.case_id))
    assert disclosure.view_disclosure(world.instance, world.users["cw"],
                                      given).status is DisclosureStatus.RELEASED
    set_consent(world.instance, session, Recipient.LOCAL_AUTHORITY, Purpose.SAFEGUARDING,
                give=False)
    after = disclosure.request_disclosure(world.instance, world.users["cw"],
                                          _safeguarding(world, filed.case_id))
    assert disclosure.view_disclosure(world.instance, world.users["cw"],
                                      after).status is DisclosureStatus.DENIED
    assert _packages(world) == 1


def test_a_withdrawal_racing_a_release_wins(
    sqlite_world: StaffWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = sqlite_world
    filed = world.file("cw", consents=((Recipient.LOCAL_AUTHORITY, Purpose.SAFEGUARDING),))
    world.confirm_consents(filed)
    real = disclosure_release.access_case

    def then_withdrawn(*args: object, **kw: object) -> object:
        opened = real(*args, **kw)  # type: ignore[arg-type]
        with world.instance.engine.begin() as conn:
            from safereport.store.core import consents

            conn.execute(update(consents).values(withdrawn_at=datetime.now(UTC)))
        return opened

    monkeypatch.setattr(disclosure_release, "access_case", then_withdrawn)
    request_id = disclosure.request_disclosure(world.instance, world.users["cw"],
                                               _safeguarding(world, filed.case_id))
    view = disclosure.view_disclosure(world.instance, world.users["cw"], request_id)
    assert view.status is DisclosureStatus.DENIED and "withdrew her consent" in view.reasons[0]
    assert _packages(world) == 0
    assert entries(world.instance)[-1]["detail"]["outcome"] == "consent_withdrawn"


def test_her_page_says_what_was_shared_before_she_withdrew(world: StaffWorld) -> None:
    from safereport.services.victim import consent_states

    filed = world.file("cw")
    claimed = claim_case(world.instance, filed.claim_code)
    session = open_by_codename(world.instance, claimed.codename)
    assert session is not None
    set_consent(world.instance, session, *COUNCIL, give=False)
    provenance_id = provenance.record_consent_in_person(
        world.instance, world.users["cw"], filed.case_id, *COUNCIL)
    states = {(c.recipient, c.purpose): c for c in consent_states(world.instance, session)}
    # recorded by her caseworker and not yet confirmed: she sees it waiting, and it is off
    assert not any(c.active for c in states.values()) and states[COUNCIL].pending
    provenance.confirm_consent(world.instance, world.users["sup1"], provenance_id)
    released = disclosure.request_disclosure(world.instance, world.users["cw"],
                                             _safeguarding(world, filed.case_id))
    assert disclosure.view_disclosure(world.instance, world.users["cw"],
                                      released).status is DisclosureStatus.RELEASED
    set_consent(world.instance, session, *COUNCIL, give=False)
    states = {(c.recipient, c.purpose): c for c in consent_states(world.instance, session)}
    assert not states[COUNCIL].active and not states[COUNCIL].pending
    assert [s.categories for s in states[COUNCIL].shared_before] == [(DataCategory.CONTACT,)]
    from safereport.services.provenance import shared_under

    with world.instance.engine.connect() as conn:
        shared = shared_under(conn, filed.case_id, *COUNCIL)
    assert [s.categories for s in shared] == [(DataCategory.CONTACT,)]


# ---- her own request: victim_initiated from the record ---------------------------------------


def test_her_request_through_her_door_lets_her_service_send_it_with_two_people(
    world: StaffWorld,
) -> None:
    from safereport.services.victim import ask_for_disclosure

    filed = world.file("cw")
    claimed = claim_case(world.instance, filed.claim_code)
    session = open_by_codename(world.instance, claimed.codename)
    assert session is not None
    asked = ask_for_disclosure(world.instance, session, *TO_IE,
                               [DataCategory.IDENTITY, DataCategory.IMMIGRATION_STATUS])
    form = DisclosureForm(case_id=filed.case_id, recipient_org_id=world.orgs["ie"],
                          purpose=Purpose.REGULARISATION_SUPPORT,
                          categories=frozenset({DataCategory.IDENTITY}),
                          victim_request_id=asked)
    request_id = disclosure.request_disclosure(world.instance, world.users["cw"], form)
    view = disclosure.view_disclosure(world.instance, world.users["cw"], request_id)
    # v2: conditional on a justification, a second supervisor and a notice to her
    assert view.status is DisclosureStatus.NEEDS_JUSTIFICATION
    assert set(view.obligations) == {"record_justification", "supervisor_approval",
                                     "notify_subject"}
    disclosure.add_justification(world.instance, world.users["cw"], request_id,
                                 "Her application for leave under the DV rule.")
    assert _packages(world) == 0
    disclosure.approve(world.instance, world.users["sup1"], request_id)
    assert disclosure.view_disclosure(world.instance, world.users["cw"],
                                      request_id).status is DisclosureStatus.RELEASED
    # Immigration Enforcement, for her own application, reads what she sent and no more, in
    # its read-only inbox; the opening is decided again and recorded (issue 17).
    officer = world.users["ie_officer"]
    [item] = disclosure.inbox(world.instance, officer)
    assert not item.can_take_in
    package = disclosure.read_package(world.instance, officer, request_id)
    assert package.values[CaseField.NAME] == "Maria Exemplo"
    assert {FIELD_CATEGORY[name] for name in package.values} == {DataCategory.IDENTITY}
    assert entries(world.instance)[-1]["detail"]["event"] == "package_opened"
    # wider than she asked, or to another purpose: not hers, so denied
    wider = replace(form, categories=frozenset({DataCategory.IDENTITY, DataCategory.ADDRESS}))
    assert disclosure.view_disclosure(
        world.instance, world.users["cw"],
        disclosure.request_disclosure(world.instance, world.users["cw"], wider)
    ).status is DisclosureStatus.DENIED


# ---- notify_subject must reach her ----------------------------------------------------------


def test_a_notice_to_nobody_is_not_a_notice(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    filed = world.file("cw")
    form = DisclosureForm(case_id=filed.case_id, recipient_org_id=world.orgs["police"],
                          purpose=Purpose.SAFEGUARDING,
                          categories=frozenset({DataCategory.ADDRESS}),
                          flags=frozenset({"emergency"}), justification="Threat to life now.")
    request_id = disclosure.request_disclosure(world.instance, world.users["cw"], form)
    assert disclosure.view_disclosure(world.instance, world.users["cw"],
                                      request_id).status is DisclosureStatus.WAITING_FOR_HER
    assert _packages(world) == 0
    # a report made without any door (anonymous, no claim code): refused with that reason
    with world.instance.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == filed.case_id)
                     .values(claim_code_hash=None))
    disclosure.release_waiting(world.instance, world.users["cw"], request_id)
    view = disclosure.view_disclosure(world.instance, world.users["cw"], request_id)
    assert view.status is DisclosureStatus.DENIED and "no way" in view.reasons[0]
    assert entries(world.instance)[-1]["detail"]["outcome"] == "no_door_to_notify"


# ---- claim codes, asks, erasure -------------------------------------------------------------


def test_a_claimed_report_never_gets_a_new_claim_code(world: StaffWorld) -> None:
    filed = world.file("cw")
    claim_case(world.instance, filed.claim_code)
    with pytest.raises(ClaimCodeRefused, match="claimed"):
        issue_claim_code(world.instance, filed.case_id)


def test_claim_code_command_refuses_a_claimed_report_on_record(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    filed = world.file("cw")
    unused = CliRunner().invoke(main, ["--data-dir", str(world.instance.settings.data_dir),
                                       "report", "claim-code", filed.reference])
    assert unused.exit_code == 0, unused.output  # an unclaimed report: a fresh code
    claim_case(world.instance, unused.output.strip())
    result = CliRunner().invoke(main, ["--data-dir", str(world.instance.settings.data_dir),
                                       "report", "claim-code", filed.reference])
    assert result.exit_code != 0
    assert "can never get a new claim code" in result.output
    last = entries(world.instance)[-1]
    assert last["decision"] == "deny" and last["detail"]["outcome"] == "claim_code_refused"


def test_an_ask_cannot_be_answered_with_another_case(world: StaffWorld) -> None:
    asked_about = world.file("cw", consents=((Recipient.LOCAL_AUTHORITY, Purpose.SAFEGUARDING),))
    other = world.file("cw", consents=((Recipient.LOCAL_AUTHORITY, Purpose.SAFEGUARDING),))
    world.confirm_consents(other)
    ask_id = disclosure.ask_for_disclosure(
        world.instance, world.users["officer"], holder_org_id=world.orgs["support"],
        reference=asked_about.reference, purpose=Purpose.SAFEGUARDING,
        categories=[DataCategory.CONTACT])
    def answer(case_id: str) -> DisclosureForm:
        return replace(_safeguarding(world, case_id), recipient_org_id=world.orgs["police"])

    before = len(entries(world.instance))
    with pytest.raises(InvalidInput, match="case that was asked about"):
        disclosure.answer_ask(world.instance, world.users["cw"], ask_id,
                              answer(other.case_id))
    wider = replace(answer(asked_about.case_id),
                    categories=frozenset({DataCategory.CONTACT, DataCategory.IDENTITY}))
    with pytest.raises(InvalidInput, match="at most the kinds of data"):
        disclosure.answer_ask(world.instance, world.users["cw"], ask_id, wider)
    with pytest.raises(InvalidInput, match="no such ask"):
        disclosure.answer_ask(world.instance, world.users["cw"], "f" * 32,
                              answer(asked_about.case_id))
    refused = entries(world.instance)[before:]
    assert [e["detail"]["outcome"] for e in refused] == [
        "ask_answer_refused", "ask_answer_refused", "ask_not_held"]
    assert _packages(world) == 0


def _erase_now(world: StaffWorld, codename: str) -> None:
    session = open_by_codename(world.instance, codename)
    assert session is not None
    request_erasure(world.instance, session)
    later = datetime.now(UTC) + timedelta(hours=world.instance.settings.erasure_cooling_off_hours
                                          + 1)
    assert complete_due_erasures(world.instance, now=later) == 1


def test_a_package_cannot_be_taken_in_after_erasure(world: StaffWorld) -> None:
    filed = world.file("cw")
    claimed = claim_case(world.instance, filed.claim_code)
    form = DisclosureForm(case_id=filed.case_id, recipient_org_id=world.orgs["police"],
                          purpose=Purpose.SAFEGUARDING,
                          categories=frozenset({DataCategory.ADDRESS}),
                          flags=frozenset({"emergency"}), justification="Threat to life now.")
    request_id = disclosure.request_disclosure(world.instance, world.users["cw"], form)
    assert _packages(world) == 1
    _erase_now(world, claimed.codename)
    assert _packages(world) == 0
    with pytest.raises(InvalidInput, match="no such package"):
        disclosure.accept_package(world.instance, world.users["officer"], request_id)
    last = entries(world.instance)[-1]
    assert last["decision"] == "deny" and last["detail"]["outcome"] == "package_not_held"


def test_taking_in_another_organisations_package_is_on_record(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    filed = world.file("cw")
    claim_case(world.instance, filed.claim_code)
    form = DisclosureForm(case_id=filed.case_id, recipient_org_id=world.orgs["police"],
                          purpose=Purpose.SAFEGUARDING,
                          categories=frozenset({DataCategory.ADDRESS}),
                          flags=frozenset({"emergency"}), justification="Threat to life now.")
    request_id = disclosure.request_disclosure(world.instance, world.users["cw"], form)
    before = len(entries(world.instance))
    with pytest.raises(InvalidInput, match="no such package"):
        disclosure.accept_package(world.instance, world.users["other_cw"], request_id)
    assert len(entries(world.instance)) == before + 1


# ---- her request, by her own page, then carried out by two people ---------------------------


def test_her_request_by_her_page_is_what_lets_her_service_send_it(
    sqlite_world: StaffWorld,
) -> None:
    from starlette.testclient import TestClient

    from safereport.web.app import create_app

    world = sqlite_world
    filed = world.file("cw")
    claimed = claim_case(world.instance, filed.claim_code)
    her = TestClient(create_app(world.instance), follow_redirects=True)
    page = her.get("/return")
    opened = her.post("/return", data={"csrf_token": csrf_of(page.text),
                                       "codename": claimed.codename, "lang": "en"})
    assert "Send my information somewhere" in opened.text
    form = her.get("/return/ask")
    assert form.status_code == 200 and "What happens next" in form.text
    # nothing chosen: told clearly, on the form again, nothing saved
    empty = her.post("/return/ask", data={"csrf_token": csrf_of(form.text), "lang": "en"})
    assert "Please choose where" in empty.text and "Please choose at least one" in empty.text
    asked = her.post("/return/ask", data={
        "csrf_token": csrf_of(her.get("/return/ask").text), "lang": "en",
        "where": "immigration_enforcement/regularisation_support",
        "what": ["identity", "immigration_status"]})
    assert "Your request has been sent to your support service" in asked.text
    assert "The Home Office, only to help you with your own immigration status" in asked.text
    # her service sees it on the case page and can choose it on the disclosure form
    facts = provenance.case_facts(world.instance, world.users["cw"], filed.case_id)
    (request,) = facts.standing_requests
    cw = signed_in(world, "cw")
    assert "she gave it on her own page" in cw.get(f"/staff/cases/{filed.case_id}").text
    disclose = cw.get(f"/staff/cases/{filed.case_id}/disclose").text
    assert request.id in disclose
    r = cw.post(f"/staff/cases/{filed.case_id}/disclose", data={
        "csrf_token": csrf_of(disclose), "recipient_org": world.orgs["ie"],
        "purpose": "regularisation_support", "category": ["identity"],
        "victim_request": request.id, "justification": "Her DV rule application."},
        follow_redirects=True)
    assert "needs approval" in r.text.lower()
    # she withdraws before the second supervisor approves: nothing is sent
    page = her.get("/return").text
    her.post("/return/ask/withdraw", data={"csrf_token": csrf_of(page), "lang": "en",
                                           "request": request.id})
    waiting = disclosure.awaiting_approval(world.instance, world.users["sup1"])
    disclosure.approve(world.instance, world.users["sup1"], waiting[0].id)
    assert disclosure.view_disclosure(world.instance, world.users["cw"],
                                      waiting[0].id).status is DisclosureStatus.DENIED
    assert _packages(world) == 0


def test_automated_comes_from_the_kind_of_actor(sqlite_world: StaffWorld) -> None:
    from safereport.domain.vocabulary import Action, ActorRole
    from safereport.services.access import Actor, decide_and_record

    world = sqlite_world
    filed = world.file("officer", sensitive=False)
    system = Actor(id="system:pnc-rule", role=ActorRole.POLICE_SYSTEM,
                   org_id=world.users["officer"].org_id,
                   org_kind=world.users["officer"].org_kind)
    decision, _ = decide_and_record(world.instance, system, filed.case_id, action=Action.VIEW,
                                    purpose=Purpose.INVESTIGATION,
                                    categories=[DataCategory.CRIME_DETAILS])
    assert decision.request["context"]["automated"] is True
    # a caller saying otherwise makes the request invalid: denied, with the reason on record
    said, _ = decide_and_record(world.instance, system, filed.case_id, action=Action.VIEW,
                                purpose=Purpose.INVESTIGATION,
                                categories=[DataCategory.CRIME_DETAILS],
                                context={"automated": False})
    assert said.effect == "deny"
    job = Actor(id="job:erase-due", role=ActorRole.VICTIM, system=True)
    assert job.automated and not replace(job, system=False).automated


def test_her_return_session_stops_the_moment_her_case_is_erased(
    sqlite_world: StaffWorld,
) -> None:
    from starlette.testclient import TestClient

    from safereport.web.app import create_app

    world = sqlite_world
    filed = world.file("cw")
    claimed = claim_case(world.instance, filed.claim_code)
    her = TestClient(create_app(world.instance), follow_redirects=True)
    page = her.get("/return")
    opened = her.post("/return", data={"csrf_token": csrf_of(page.text),
                                       "codename": claimed.codename, "lang": "en"})
    assert filed.reference in opened.text
    _erase_now(world, claimed.codename)
    after = her.get("/return")
    assert filed.reference not in after.text and "This page has closed" in after.text
    assert her.get("/return/ask").url.path == "/return"
