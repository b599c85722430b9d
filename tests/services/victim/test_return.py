"""The return door: messages, consents, who has seen my data, receipts, erasure, claim."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from tests.support.unsafe_seal import unsafe_seal
from tests.support.victim_world import World

from safereport.domain.case import IntakeKind, new_id
from safereport.domain.vocabulary import DataCategory, Purpose, Recipient
from safereport.errors import AccessDenied, InvalidInput, VaultError
from safereport.ledger.verifier import check_proof, parse_proof
from safereport.services.access import access_case, active_consent
from safereport.services.claim import claim_case, issue_claim_code
from safereport.services.erasure import cancel_erasure, complete_due_erasures, request_erasure
from safereport.services.intake import parse_submission, submit_report
from safereport.services.victim import (
    VictimSession,
    case_overview,
    consent_states,
    message_label,
    messages,
    open_by_codename,
    receipt,
    send_message,
    set_consent,
    who_has_seen,
)
from safereport.store.core import cases, notes

REPORT: dict[str, Any] = {"mode": "codename", "crime_type": "domestic_abuse",
                          "narrative": "Synthetic narrative for a test."}


def _report(world: World, **extra: Any) -> tuple[VictimSession, str]:
    made = submit_report(world.instance, parse_submission({**REPORT, **extra}))
    assert made.codename is not None
    session = open_by_codename(world.instance, made.codename)
    assert session is not None
    return session, made.codename


def _staff_message(world: World, case_id: str, text: str) -> None:
    note_id = new_id()
    with world.instance.engine.begin() as conn:
        sealed = world.instance.vault.seal_blob(conn, unsafe_seal(conn, case_id),
                                                case_id, DataCategory.CASE_NOTES,
                                                message_label(note_id), text.encode())
        conn.execute(notes.insert().values(
            id=note_id, case_id=case_id, author_kind="staff", visible_to_subject=True,
            sealed=sealed, created_at=datetime.now(UTC)))


def test_messages_go_both_ways_and_are_sealed(world: World) -> None:
    session, _ = _report(world)
    _staff_message(world, session.case_id, "Hello, I am your caseworker.")
    send_message(world.instance, session, "Thank you. Please text only.")
    got = messages(world.instance, session)
    assert [(m.from_me, m.text) for m in got] == [
        (False, "Hello, I am your caseworker."), (True, "Thank you. Please text only.")]
    with world.instance.engine.connect() as conn:
        stored = [bytes(r.sealed) for r in conn.execute(select(notes.c.sealed))]
    assert all(b"Thank you" not in blob for blob in stored)


def test_reading_messages_is_itself_in_the_ledger(world: World) -> None:
    session, _ = _report(world)
    _staff_message(world, session.case_id, "Hi")
    before = len(who_has_seen(world.instance, session))
    messages(world.instance, session)
    after = who_has_seen(world.instance, session)
    assert len(after) == before + 1
    assert (after[-1].actor_role, after[-1].action) == ("victim", "view")


def test_a_caseworkers_access_appears_under_who_has_seen(world: World) -> None:
    session, _ = _report(world)
    access_case(world.instance, world.caseworker(), session.case_id, purpose=Purpose.SUPPORT)
    with pytest.raises(AccessDenied):
        access_case(world.instance, world.officer(), session.case_id,
                    purpose=Purpose.INVESTIGATION)
    seen = who_has_seen(world.instance, session)
    kinds = [(e.actor_role, e.actor_org_kind, e.purpose, e.effect) for e in seen]
    assert ("caseworker", "support_service", "support", "allow") in kinds
    assert ("police_officer", "police", "investigation", "deny") in kinds


def test_a_receipt_verifies_offline_and_carries_its_entry(world: World) -> None:
    session, _ = _report(world)
    access_case(world.instance, world.caseworker(), session.case_id, purpose=Purpose.SUPPORT)
    entry = who_has_seen(world.instance, session)[-1]
    got = receipt(world.instance, session, entry.index)
    proof = parse_proof(got.text)
    assert proof.index == entry.index and proof.extra is not None
    check_proof(got.text, world.instance.ledger.verifier_key(), proof.extra)
    assert proof.extra == world.instance.ledger.entry(entry.index)


def test_no_receipt_for_someone_elses_entry(world: World) -> None:
    mine, _ = _report(world)
    theirs, _ = _report(world)
    other_entry = who_has_seen(world.instance, theirs)[0]
    with pytest.raises(AccessDenied):
        receipt(world.instance, mine, other_entry.index)


def test_a_session_cannot_reach_another_case(world: World) -> None:
    mine, _ = _report(world)
    theirs, _ = _report(world)
    forged = VictimSession(subject_id=mine.subject_id, case_id=theirs.case_id)
    with pytest.raises(AccessDenied):
        who_has_seen(world.instance, forged)


def test_consent_given_and_withdrawn_is_what_the_guard_reads(world: World) -> None:
    session, _ = _report(world)
    assert not any(c.active for c in consent_states(world.instance, session))
    set_consent(world.instance, session, Recipient.POLICE, Purpose.INVESTIGATION, give=True)
    with world.instance.engine.connect() as conn:
        assert active_consent(conn, session.case_id, Recipient.POLICE, Purpose.INVESTIGATION)
    set_consent(world.instance, session, Recipient.POLICE, Purpose.INVESTIGATION, give=False)
    with world.instance.engine.connect() as conn:
        assert not active_consent(conn, session.case_id, Recipient.POLICE,
                                  Purpose.INVESTIGATION)
    events = [e.action for e in who_has_seen(world.instance, session)]
    assert events.count("update") >= 3  # intake, give, withdraw


def test_an_unoffered_consent_is_refused(world: World) -> None:
    session, _ = _report(world)
    with pytest.raises(InvalidInput):
        set_consent(world.instance, session, Recipient.PUBLIC, Purpose.STATISTICS, give=True)


def test_erasure_waits_for_the_cooling_off_period_and_can_be_cancelled(world: World) -> None:
    session, _ = _report(world)
    now = datetime.now(UTC)
    due = request_erasure(world.instance, session, now=now)
    hours = world.instance.settings.erasure_cooling_off_hours
    assert due - now == timedelta(hours=hours)
    assert complete_due_erasures(world.instance, now=now + timedelta(hours=hours - 1)) == 0
    cancel_erasure(world.instance, session)
    assert case_overview(world.instance, session).erasure_requested_at is None
    assert complete_due_erasures(world.instance, now=now + timedelta(hours=hours + 1)) == 0


def test_erasure_shreds_the_case_and_is_recorded(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safereport.services.erasure as erasure_service

    purged: list[object] = []
    real_purge = erasure_service.purge_remnants
    monkeypatch.setattr(erasure_service, "purge_remnants",
                        lambda engine: (purged.append(engine), real_purge(engine)))
    session, codename = _report(world)
    _staff_message(world, session.case_id, "Hi")
    now = datetime.now(UTC)
    request_erasure(world.instance, session, now=now)
    later = now + timedelta(hours=world.instance.settings.erasure_cooling_off_hours, minutes=1)
    assert complete_due_erasures(world.instance, now=later) == 1
    assert purged == [world.instance.engine]  # old key bytes are cleared from WAL / dead rows
    with pytest.raises((AccessDenied, VaultError)):
        access_case(world.instance, world.caseworker(), session.case_id, purpose=Purpose.SUPPORT)
    with world.instance.engine.connect() as conn:
        entries = world.instance.ledger.entries_for_case(conn, session.case_id)
        row = conn.execute(select(cases).where(cases.c.id == session.case_id)).one()
    assert row.erased_at is not None and row.status == "erased"
    assert [e.action for e in entries].count("erase") == 2  # requested, then done
    assert open_by_codename(world.instance, codename) is None


def test_a_claim_code_turns_a_third_party_report_into_hers(world: World) -> None:
    made = submit_report(world.instance, parse_submission({**REPORT, "mode": "anonymous"}))
    with world.instance.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == made.case_id)
                     .values(intake=IntakeKind.THIRD_PARTY.value, subject_id=None))
    code = issue_claim_code(world.instance, made.case_id)
    claimed = claim_case(world.instance, code.lower())
    assert claimed.reference == made.reference
    session = open_by_codename(world.instance, claimed.codename)
    assert session is not None and session.case_id == made.case_id
    with pytest.raises(InvalidInput):
        claim_case(world.instance, code)  # spent


def test_claim_codes_are_only_for_third_party_reports(world: World) -> None:
    made = submit_report(world.instance, parse_submission(REPORT))
    with pytest.raises(InvalidInput):
        issue_claim_code(world.instance, made.case_id)
    with pytest.raises(InvalidInput):
        claim_case(world.instance, "AAAA-BBBB-CCCC-DDDD")
