"""Intake: anonymous, codename and identified reports through guard, ledger and vault."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from tests.support.victim_world import World

from safereport.domain.fields import CaseField
from safereport.domain.vocabulary import Purpose, Recipient
from safereport.errors import AccessDenied
from safereport.services.access import access_case
from safereport.services.intake import (
    SUBMISSION_SCHEMA,
    InvalidReport,
    Problem,
    parse_submission,
    submit_report,
)
from safereport.services.victim import open_by_codename
from safereport.store.core import cases, consents, subjects
from safereport.store.ledger import ledger_entries

BASE: dict[str, Any] = {
    "mode": "anonymous",
    "crime_type": "domestic_abuse",
    "narrative": "He took my passport and will not give it back.",
}


def _count(world: World, table: Any) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_an_anonymous_report_keeps_no_identity_or_contact(world: World) -> None:
    data = {**BASE, "name": "Maria", "phone": "07700 900123", "email": "m@example.org",
            "occurred": "last week"}
    receipt = submit_report(world.instance, parse_submission(data))
    assert receipt.codename is None and receipt.reference.startswith("SR-")
    opened = access_case(world.instance, world.caseworker(), receipt.case_id,
                         purpose=Purpose.SUPPORT)
    assert opened.values[CaseField.NARRATIVE] == BASE["narrative"]
    assert opened.values[CaseField.OCCURRED] == "last week"
    assert not {CaseField.NAME, CaseField.PHONE, CaseField.EMAIL} & set(opened.values)
    with world.instance.engine.connect() as conn:
        assert conn.execute(select(subjects.c.lookup_id)).scalar() is None


def test_the_intake_is_in_the_ledger_as_the_victim_under_c_self(world: World) -> None:
    receipt = submit_report(world.instance, parse_submission(BASE))
    with world.instance.engine.connect() as conn:
        entries = world.instance.ledger.entries_for_case(conn, receipt.case_id)
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.actor_role, entry.action, entry.purpose) == ("victim", "update",
                                                               "subject_access")
    assert entry.effect == "allow" and "C-self" in entry.rules


def test_a_codename_report_opens_again_with_its_codename(world: World) -> None:
    receipt = submit_report(world.instance, parse_submission({**BASE, "mode": "codename"}))
    assert receipt.codename is not None and len(receipt.codename.split()) == 7
    session = open_by_codename(world.instance, receipt.codename.upper())
    assert session is not None and session.case_id == receipt.case_id
    with world.instance.engine.connect() as conn:
        stored = conn.execute(select(subjects.c.lookup_id)).scalar()
    assert stored is not None and receipt.codename.split()[0] not in stored


def test_a_wrong_codename_opens_nothing(world: World) -> None:
    receipt = submit_report(world.instance, parse_submission({**BASE, "mode": "codename"}))
    assert receipt.codename is not None
    words = receipt.codename.split()
    other = " ".join([*words[:6], "zebra" if words[6] != "zebra" else "zoom"])
    assert open_by_codename(world.instance, other) is None
    assert open_by_codename(world.instance, "not a codename") is None


def test_an_identified_report_seals_name_and_contact(world: World) -> None:
    data = {**BASE, "mode": "identified", "name": "Maria", "phone": "07700 900123",
            "safe_contact": {"call": False, "text": True, "email": False, "note": "after 6pm"}}
    receipt = submit_report(world.instance, parse_submission(data))
    opened = access_case(world.instance, world.caseworker(), receipt.case_id,
                         purpose=Purpose.SUPPORT)
    assert opened.values[CaseField.NAME] == "Maria"
    assert "text: yes" in opened.values[CaseField.SAFE_CONTACT]
    assert "call: no" in opened.values[CaseField.SAFE_CONTACT]
    assert "after 6pm" in opened.values[CaseField.SAFE_CONTACT]


def test_consents_are_off_unless_given(world: World) -> None:
    submit_report(world.instance, parse_submission(BASE))
    assert _count(world, consents) == 0
    given = {**BASE, "consents": [{"recipient": "police", "purpose": "investigation"}]}
    submit_report(world.instance, parse_submission(given))
    with world.instance.engine.connect() as conn:
        rows = conn.execute(select(consents.c.recipient, consents.c.purpose)).all()
    assert [tuple(r) for r in rows] == [(Recipient.POLICE.value, Purpose.INVESTIGATION.value)]


def test_the_police_cannot_read_a_support_service_report(world: World) -> None:
    receipt = submit_report(world.instance, parse_submission(BASE))
    with pytest.raises(AccessDenied):
        access_case(world.instance, world.officer(), receipt.case_id,
                    purpose=Purpose.INVESTIGATION)


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"narrative": ""}, "narrative", Problem.REQUIRED),
        ({"narrative": "x" * 20_001}, "narrative", Problem.TOO_LONG),
        ({"occurred": "y" * 301}, "occurred", Problem.TOO_LONG),
        ({"mode": "third_party"}, "mode", Problem.INVALID_CHOICE),
        ({"mode": "psychic"}, "mode", Problem.INVALID_CHOICE),
        ({"crime_type": None}, "crime_type", Problem.REQUIRED),
        ({"subject_role": "suspect"}, "subject_role", Problem.INVALID_CHOICE),
        ({"narrative": "bad \udcff bytes"}, "narrative", Problem.UNREADABLE),
        ({"narrative": "bad \ufffd bytes"}, "narrative", Problem.UNREADABLE),
        ({"narrative": 42}, "narrative", Problem.NOT_TEXT),
        ({"ip_address": "10.0.0.1"}, "ip_address", Problem.UNKNOWN_FIELD),
        ({"consents": [{"recipient": "public", "purpose": "statistics"}]}, "consents",
         Problem.INVALID_CHOICE),
        ({"safe_contact": {"call": "yes"}}, "safe_contact", Problem.INVALID_CHOICE),
    ],
)
def test_bad_input_names_the_field(change: dict[str, Any], field: str, problem: Problem) -> None:
    with pytest.raises(InvalidReport) as caught:
        parse_submission({**BASE, **change})
    assert caught.value.problems[field] is problem


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidReport) as caught:
        parse_submission({"mode": "x"})
    assert set(caught.value.problems) == {"mode", "crime_type", "narrative"}


def test_the_schema_lists_exactly_the_accepted_fields() -> None:
    properties = SUBMISSION_SCHEMA["$defs"]["submission"]["properties"]
    full = {**BASE, "subject_role": "witness", "occurred": "a", "location": "b", "name": "",
            "phone": "", "email": "", "safe_contact": {"call": True, "note": "x"},
            "consents": [], "language": "pl"}
    assert set(full) == set(properties)
    assert parse_submission(full).language == "pl"


def test_a_failure_while_saving_leaves_nothing_behind(world: World,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(type(world.instance.vault), "seal_fields", broken)
    with pytest.raises(RuntimeError):
        submit_report(world.instance, parse_submission(BASE))
    assert _count(world, cases) == 0 and _count(world, subjects) == 0
    assert world.instance.ledger.size() == 0


def test_a_refused_intake_keeps_nothing_but_the_refusal(world: World,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    guard = world.instance.guard
    real = guard.decide

    def as_someone_else(request: Any) -> Any:
        return real({**request, "actor": {"role": "immigration_officer", "same_org": False}})

    monkeypatch.setattr(guard, "decide", as_someone_else)
    with pytest.raises(AccessDenied):
        submit_report(world.instance, parse_submission(BASE))
    assert _count(world, cases) == 0 and _count(world, subjects) == 0
    assert world.instance.ledger.size() == 1
    with world.instance.engine.connect() as conn:
        (only,) = conn.execute(select(ledger_entries.c.effect)).all()
    assert only.effect == "deny"
