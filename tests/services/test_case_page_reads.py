"""The case page reads everything through one connection, and shows what each service reads
(issue 13: services/case_page.py and its statements in store/case_page.py)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import yaml
from sqlalchemy import event
from tests.support.staff_client import signed_in
from tests.support.staff_world import StaffWorld
from tests.support.statements import statements_run
from tests.web.staff.test_every_route import _fixture

from safereport.domain.risk import DEFAULT_CHECKLIST
from safereport.services import casework, disclosure, evidence, practice, provenance
from safereport.services.case_page import case_page_view
from safereport.store import casework as store_casework

pytestmark = pytest.mark.slow


@contextmanager
def _checkouts(world: StaffWorld) -> Iterator[list[str]]:
    """Connections taken from the pool, by thread name, but the ledger's sequencer's."""
    taken: list[str] = []

    def checkout(*_: Any) -> None:
        if threading.current_thread().name != "ledger-sequencer":
            taken.append(threading.current_thread().name)

    engine = world.instance.engine
    event.listen(engine, "checkout", checkout)
    try:
        yield taken
    finally:
        event.remove(engine, "checkout", checkout)


def test_the_page_shows_what_each_service_reads(world: StaffWorld) -> None:
    fx = _fixture(world)
    cw = world.users["cw"]
    practice.request_transfer(world.instance, cw, fx.support_case, world.orgs["other_support"],
                              "She moved to Testtown.")
    from tests.support.evidence_files import jpeg_with_gps

    evidence.attach_for_staff(world.instance, cw, fx.support_case, io.BytesIO(jpeg_with_gps()))
    for fact in provenance.case_facts(world.instance, cw, fx.support_case).waiting:
        if fact.kind == "consent":
            provenance.confirm_consent(world.instance, world.users["sup1"], fact.id)
    for who, case_id in (("cw", fx.support_case), ("sup1", fx.support_case),
                         ("officer", fx.police_case)):
        user, instance = world.users[who], world.instance
        view = case_page_view(instance, user, case_id)
        assert view.page == casework.case_page(instance, user, case_id)
        assert view.marac_referrals == practice.marac_referrals(instance, user, case_id)
        assert view.transfers == practice.transfers_for_case(instance, user, case_id)
        assert view.transfer_orgs == practice.transfer_organisations(instance, user)
        assert view.colleagues == casework.colleagues(instance, user)
        assert view.disclosures == disclosure.disclosures_for_case(instance, user, case_id)
        assert view.checklist == casework.load_checklist(instance)
        assert view.facts == provenance.case_facts(instance, user, case_id)
        assert view.voices == [i for i in evidence.list_for_staff(instance, user, case_id)
                               if i.voice]
    shown = case_page_view(world.instance, cw, fx.support_case)
    # The fixture reaches every list: an empty one would compare equal and prove nothing.
    assert shown.marac_referrals and shown.transfers and shown.transfer_orgs
    assert shown.colleagues and len(shown.disclosures) >= 3
    assert shown.facts.consents and shown.facts.requests
    assert any(f.confirmed_by for f in shown.facts.consents)
    assert shown.page.notes is not None and shown.page.safety_plan and shown.page.marac_actions


def test_the_page_takes_one_connection(world: StaffWorld) -> None:
    fx = _fixture(world)
    client = signed_in(world, "cw")
    assert client.get(f"/staff/cases/{fx.support_case}").status_code == 200  # warm
    with _checkouts(world) as taken:
        page = client.get(f"/staff/cases/{fx.support_case}")
    assert page.status_code == 200 and "Change the locks" in page.text
    # One for the session, one for the whole page (fifteen before); a session's "last seen"
    # write takes one more now and then. The decisions go through the ledger's sequencer.
    assert len(taken) <= 3, taken


def test_a_case_not_held_is_refused_on_record(world: StaffWorld) -> None:
    fx = _fixture(world)
    size = world.instance.ledger.size()
    with pytest.raises(casework.CaseNotHeld):
        case_page_view(world.instance, world.users["other_cw"], fx.support_case)
    assert world.instance.ledger.size() == size + 1


def test_the_checklist_file_is_read_again_only_when_it_changes(
    sqlite_world: StaffWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sqlite_world.instance.settings.data_dir / casework.RISK_CHECKLIST_FILE
    assert casework.load_checklist(sqlite_world.instance) is DEFAULT_CHECKLIST
    path.write_text("high_threshold: 2\nitems:\n  - {id: a, prompt: 'First?'}\n"
                    "  - {id: b, prompt: 'Second?'}\n", encoding="utf-8")
    parsed: list[object] = []
    real = yaml.safe_load

    def counting(text: str) -> object:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(yaml, "safe_load", counting)
    first = casework.load_checklist(sqlite_world.instance)
    assert casework.load_checklist(sqlite_world.instance) is first
    assert first.ids == ("a", "b") and len(parsed) == 1  # parsed once, then kept
    path.write_text("high_threshold: 1\nitems:\n  - {id: c, prompt: 'Only one?'}\n",
                    encoding="utf-8")
    changed = casework.load_checklist(sqlite_world.instance)
    assert changed.ids == ("c",) and changed.high_threshold == 1 and len(parsed) == 2
    path.unlink()
    assert casework.load_checklist(sqlite_world.instance) is DEFAULT_CHECKLIST


#: The tables of the lists a case page shows (store/casework.py, ``_PAGE_LISTS``).
_LISTS = ("notes", "safety_plan_actions", "marac_actions", "outcome_scores",
          "disclosure_requests", "case_transfers", "consents", "victim_requests",
          "evidence_files")


def _list_reads(ran: list[str]) -> list[str]:
    """The tables of the page's lists that a SELECT among ``ran`` read rows from (the holding
    statement, which asks only whether rows exist, is not one)."""
    read: list[str] = []
    for statement in ran:
        text = " ".join(statement.split()).lower()
        if text.startswith("select") and "exists" not in text:
            read.extend(t for t in _LISTS if f"from {t}" in text or f"join {t}" in text)
    return read


def test_lists_the_case_has_none_of_are_not_read(world: StaffWorld) -> None:
    """Issue 13: one statement says which of the page's lists the case has none of; those are
    not read again (each of the nine was a statement of its own on every view)."""
    cw = world.users["cw"]
    case_id = world.file().case_id
    casework.add_note(world.instance, cw, case_id, "Called her back; safe to text.")
    with statements_run(world.instance.engine) as ran:
        view = case_page_view(world.instance, cw, case_id)
    assert _list_reads(ran) == ["notes"]  # the one list the case has: read; the others are empty
    assert [n.text for n in view.page.notes] == ["Called her back; safe to text."]
    assert not (view.page.safety_plan or view.page.marac_actions or view.page.outcomes)
    assert not (view.marac_referrals or view.transfers or view.disclosures or view.voices)
    assert not (view.facts.consents or view.facts.requests)
    assert view.page == casework.case_page(world.instance, cw, case_id)  # as read alone


def test_what_a_page_knew_empty_is_read_again_in_the_next_transaction(
    world: StaffWorld,
) -> None:
    cw = world.users["cw"]
    case_id = world.file().case_id
    with world.instance.engine.connect() as conn:
        assert "notes" in store_casework.hold_case_page(conn, case_id)
        assert store_casework.note_rows(conn, case_id) == []  # known: not read
        conn.rollback()  # the page's transaction ends; the connection stays
        casework.add_note(world.instance, cw, case_id, "A note after the page was read.")
        assert len(store_casework.note_rows(conn, case_id)) == 1  # a new transaction: read
        other = world.file().case_id
        store_casework.hold_case_page(conn, other)
        assert len(store_casework.note_rows(conn, case_id)) == 1  # held for another case
