"""The case page for people (issue 17): her account first, plain labels, the risk result as a
readable summary, rule ids with their meaning, her language and interpreter needs, the
assignee and hand-over, internal notes apart from messages to her; and the
immigration-related abuse checklist, sealed in its own data category.

The review found fields in alphabetical order (the narrative eighth), the risk answers as
raw JSON, enum words, "Decided under rules: C-casework", no language or interpreter field, no
assignee, and notes and messages in one list.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select
from tests.support.staff_client import csrf_of, signed_in
from tests.support.staff_world import StaffWorld

from safereport.domain.fields import FIELD_CATEGORY, FIELD_LABELS, FIELD_ORDER, CaseField
from safereport.domain.risk import (
    DEFAULT_CHECKLIST,
    IMMIGRATION_ABUSE_CHECKLIST,
    read_immigration_abuse,
    record_immigration_abuse,
)
from safereport.domain.vocabulary import DataCategory, Purpose, StatusEvidence
from safereport.errors import AccessDenied, InvalidInput
from safereport.ledger.record import parse_leaf
from safereport.services import casework, disclosure
from safereport.services.disclosure import DisclosureForm, DisclosureStatus
from safereport.store.ledger import ledger_entries


def _text(html: str) -> str:
    main = html[html.index("<main"):html.index("</main>")]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)).replace("&#34;", '"')


def _last_entry(world: StaffWorld) -> dict[str, Any]:
    with world.instance.engine.connect() as conn:
        leaf = conn.execute(select(ledger_entries.c.leaf)
                            .order_by(ledger_entries.c.idx.desc()).limit(1)).scalar_one()
    return parse_leaf(bytes(leaf))


def test_every_field_has_a_label_a_place_and_a_category() -> None:
    assert set(FIELD_ORDER) == set(CaseField) == set(FIELD_LABELS) == set(FIELD_CATEGORY)
    assert FIELD_ORDER[0] is CaseField.NARRATIVE
    assert FIELD_CATEGORY[CaseField.IMMIGRATION_ABUSE] is DataCategory.IMMIGRATION_ABUSE
    assert FIELD_CATEGORY[CaseField.LANGUAGE] is DataCategory.CONTACT


def test_the_case_page_reads_as_a_person_would(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    filed = world.file("cw")
    cw = world.users["cw"]
    answers = {i: ("yes" if n < 15 else "no") for n, i in enumerate(DEFAULT_CHECKLIST.ids)}
    casework.save_risk_assessment(world.instance, cw, filed.case_id, answers)
    casework.add_note(world.instance, cw, filed.case_id, "Internal: spoke to the GP.")
    casework.add_note(world.instance, cw, filed.case_id, "We will call on Tuesday.",
                      visible_to_subject=True)
    client = signed_in(world, "cw")
    page = client.get(f"/staff/cases/{filed.case_id}")
    assert page.status_code == 200
    text = _text(page.text)
    # her account first, plain labels, no enum words or raw JSON
    assert text.index("What happened, in her words") < text.index("Name")
    assert text.index("He took my passport") < text.index("Maria Exemplo")
    assert "crime_details" not in text and "harm intelligence" not in text
    assert '{"' not in text and '"answers"' not in text
    # the risk result as a summary: level, count, which answers were yes
    assert "Risk level: high" in text and "15 of 24 answers were \"yes\"" in text
    assert DEFAULT_CHECKLIST.items[0].prompt in text
    assert DEFAULT_CHECKLIST.items[20].prompt not in text  # answered no
    # rule ids with their meaning
    assert "A support service working on the case ( C-casework )" in text
    assert "Decided under rules" not in text
    # assignee; internal notes apart from messages to her
    assert "Assigned to Cw" in text
    her = text[text.index("Messages with her"):text.index("Internal notes (staff only)")]
    internal = text[text.index("Internal notes (staff only)"):]
    assert "We will call on Tuesday." in her and "spoke to the GP" not in her
    assert "spoke to the GP" in internal.split("New note")[0]
    assert "We will call on Tuesday." not in internal.split("New note")[0]


def test_language_and_interpreter_needs_are_sealed_and_recorded(
    sqlite_world: StaffWorld,
) -> None:
    world = sqlite_world
    filed = world.file("cw")
    client = signed_in(world, "cw")
    token = csrf_of(client.get(f"/staff/cases/{filed.case_id}").text)
    response = client.post(f"/staff/cases/{filed.case_id}/language", data={
        "csrf_token": token, "language": "Arabic;  reads little English",
        "need": ["needed", "female", "not_community"], "interpreter_note": "not by phone"})
    assert response.status_code == 303
    entry = _last_entry(world)
    assert entry["action"] == "update" and entry["data"] == ["contact"]
    assert entry["detail"]["event"] == "language" and entry["decision"] == "allow"
    text = _text(client.get(f"/staff/cases/{filed.case_id}").text)
    before = text[text.index("Before you contact her"):text.index("Who she is")]
    assert "Arabic; reads little English" in before
    assert ("Needs an interpreter; A female interpreter; Not an interpreter from her own "
            "community; not by phone") in before
    with pytest.raises(InvalidInput, match="unknown interpreter need"):
        casework.set_language_needs(world.instance, world.users["cw"], filed.case_id,
                                    language="Polish", needs=["a relative"])
    with pytest.raises(InvalidInput, match="no such case"):
        casework.set_language_needs(world.instance, world.users["other_cw"], filed.case_id,
                                    language="Polish")


def test_assignment_and_hand_over(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    filed = world.file("cw")
    cw, sup2 = world.users["cw"], world.users["sup2"]
    names = dict(casework.colleagues(world.instance, cw))
    assert set(names.values()) == {"Cw", "Sup1", "Sup2"}  # no admin, analyst or other org
    casework.assign(world.instance, cw, filed.case_id, sup2.id)
    assert _last_entry(world)["detail"]["event"] == "assigned"
    page = casework.case_page(world.instance, cw, filed.case_id)
    assert page.assignee == "Sup2" and page.summary.assigned_to == sup2.id
    with pytest.raises(InvalidInput, match="choose a colleague"):
        casework.assign(world.instance, cw, filed.case_id, world.users["officer"].id)
    with pytest.raises(InvalidInput, match="choose a colleague"):
        casework.assign(world.instance, cw, filed.case_id, world.users["admin"].id)


ALL_YES = {i: "yes" for i in IMMIGRATION_ABUSE_CHECKLIST.ids}


def test_the_checklist_asks_what_the_guidance_names() -> None:
    prompts = " ".join(item.prompt for item in IMMIGRATION_ABUSE_CHECKLIST.items)
    for words in ("deported", "passport", "visa", "sponsorship"):
        assert words in prompts
    sealed = record_immigration_abuse(ALL_YES | {"documents": "no"}, "He keeps my passport.")
    read = read_immigration_abuse(sealed)
    assert read is not None and read[1] == "He keeps my passport."
    assert [a.value for _, a in read[0]][:2] == ["yes", "no"]
    with pytest.raises(InvalidInput, match="missing"):
        record_immigration_abuse({"documents": "yes"})
    with pytest.raises(InvalidInput, match="unknown"):
        record_immigration_abuse(ALL_YES | {"made-up": "yes"})
    with pytest.raises(InvalidInput, match="yes, no or not known"):
        record_immigration_abuse(ALL_YES | {"documents": "maybe"})
    assert read_immigration_abuse("not json") is None


def test_immigration_abuse_answers_are_sealed_from_the_police(world: StaffWorld) -> None:
    filed = world.file("cw")
    cw = world.users["cw"]
    casework.save_immigration_abuse(world.instance, cw, filed.case_id, ALL_YES,
                                    note="He says he will call the Home Office.")
    entry = _last_entry(world)
    assert entry["data"] == ["immigration_abuse"] and entry["decision"] == "allow"
    page = casework.case_page(world.instance, cw, filed.case_id)
    stored = json.loads(page.values[CaseField.IMMIGRATION_ABUSE])
    assert stored["note"] == "He says he will call the Home Office."
    # A police officer cannot write it on his own case (F-sealed), and the refusal is on record.
    police = world.file("officer", sensitive=False)
    with pytest.raises(AccessDenied):
        casework.save_immigration_abuse(world.instance, world.users["officer"],
                                        police.case_id, ALL_YES)
    refused = _last_entry(world)
    assert refused["decision"] == "deny" and "F-sealed" in refused["rules"]
    # The answers never go to Immigration Enforcement on a caseworker's word, even for her
    # own application, unless she asked for it (C-abuse-evidence).
    request_id = disclosure.request_disclosure(world.instance, cw, DisclosureForm(
        case_id=filed.case_id, recipient_org_id=world.orgs["ie"],
        purpose=Purpose.REGULARISATION_SUPPORT,
        categories=frozenset({DataCategory.IMMIGRATION_ABUSE})))
    view = disclosure.view_disclosure(world.instance, cw, request_id)
    assert view.status is DisclosureStatus.DENIED and "C-abuse-evidence" in view.rules


def test_c_abuse_evidence_denies_it_to_immigration_enforcement_under_npcc(
    npcc_world: StaffWorld,
) -> None:
    """Under npcc-2020, where F-sealed does not exist, the police could record the answers on
    their own case; sending them to Immigration Enforcement is still denied."""
    world = npcc_world
    police = world.file("officer", sensitive=False)
    officer = world.users["officer"]
    casework.save_immigration_abuse(world.instance, officer, police.case_id, ALL_YES)
    request_id = disclosure.request_disclosure(world.instance, officer, DisclosureForm(
        case_id=police.case_id, recipient_org_id=world.orgs["ie"],
        purpose=Purpose.IMMIGRATION_ENFORCEMENT, status_evidence=StatusEvidence.SUSPECTED,
        categories=frozenset({DataCategory.IDENTITY, DataCategory.IMMIGRATION_ABUSE}),
        justification="asked to"))
    view = disclosure.view_disclosure(world.instance, officer, request_id)
    assert view.status is DisclosureStatus.DENIED and "C-abuse-evidence" in view.rules
    # The same request without the answers is the npcc-2020 conditional one (contrast).
    basic = disclosure.request_disclosure(world.instance, officer, DisclosureForm(
        case_id=police.case_id, recipient_org_id=world.orgs["ie"],
        purpose=Purpose.IMMIGRATION_ENFORCEMENT, status_evidence=StatusEvidence.SUSPECTED,
        categories=frozenset({DataCategory.IDENTITY})))
    assert disclosure.view_disclosure(world.instance, officer,
                                      basic).status is not DisclosureStatus.DENIED


def test_the_checklist_pages(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    filed = world.file("cw")
    client = signed_in(world, "cw")
    form = client.get(f"/staff/cases/{filed.case_id}/immigration-abuse")
    assert form.status_code == 200 and "C-abuse-evidence" in form.text
    token = csrf_of(form.text)
    partial = {"csrf_token": token, "q-documents": "yes", "note": "kept"}
    refused = client.post(f"/staff/cases/{filed.case_id}/immigration-abuse", data=partial)
    assert refused.status_code == 400 and "every question needs an answer" in refused.text
    assert 'value="yes" checked' in refused.text and ">kept</textarea>" in refused.text
    full = {"csrf_token": token, "note": "Passport held by him."} | {
        f"q-{i}": "yes" for i in IMMIGRATION_ABUSE_CHECKLIST.ids}
    saved = client.post(f"/staff/cases/{filed.case_id}/immigration-abuse", data=full)
    assert saved.status_code == 303
    text = _text(client.get(f"/staff/cases/{filed.case_id}").text)
    sealed = text[text.index("Sealed: only her own support service"):text.index("Risk")]
    assert IMMIGRATION_ABUSE_CHECKLIST.items[0].prompt in sealed
    assert "Passport held by him." in sealed
