"""The victim's door fails closed, and every refusal there is a denial in the ledger (I2)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from tests.support.unsafe_seal import unsafe_seal
from tests.support.victim_client import TestClient
from tests.support.victim_world import World

from safereport.domain.case import new_id
from safereport.domain.vocabulary import DataCategory, Purpose, Recipient
from safereport.errors import AccessDenied, InvalidInput, VaultError
from safereport.ledger.record import parse_leaf
from safereport.services import erasure as erasure_service
from safereport.services import victim as victim_service
from safereport.services.instance import Instance
from safereport.services.intake import parse_submission, submit_report
from safereport.services.victim import VictimSession
from safereport.store.core import notes
from safereport.store.ledger import ledger_entries
from safereport.web.app import create_app

REPORT: dict[str, Any] = {"mode": "codename", "crime_type": "domestic_abuse",
                          "narrative": "Synthetic narrative for a test."}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _report(world: World) -> tuple[VictimSession, str]:
    made = submit_report(world.instance, parse_submission(REPORT))
    assert made.codename is not None
    session = victim_service.open_by_codename(world.instance, made.codename)
    assert session is not None
    return session, made.codename


def _staff_message(world: World, case_id: str, text: str) -> None:
    note_id = new_id()
    with world.instance.engine.begin() as conn:
        sealed = world.instance.vault.seal_blob(
            conn, unsafe_seal(conn, case_id),
case_id, DataCategory.CASE_NOTES, victim_service.message_label(note_id),
            text.encode())
        conn.execute(notes.insert().values(
            id=note_id, case_id=case_id, author_kind="staff", visible_to_subject=True,
            sealed=sealed, created_at=datetime.now(UTC)))


def _entries(instance: Instance) -> list[dict[str, Any]]:
    with instance.engine.connect() as conn:
        rows = conn.execute(
            select(ledger_entries.c.leaf).order_by(ledger_entries.c.idx)
        ).all()
    return [parse_leaf(bytes(row.leaf)) for row in rows]


def _broken_vault(*_args: object, **_kwargs: object) -> bytes:
    raise VaultError()


# -- 1. a message the vault cannot open --------------------------------------------------------

def test_a_message_the_vault_cannot_open_ends_in_a_denial_on_record(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    session, _ = _report(world)
    _staff_message(world, session.case_id, "Hello, I am your caseworker.")
    monkeypatch.setattr(world.instance.vault, "open_blob", _broken_vault)
    before = len(_entries(world.instance))
    with pytest.raises(AccessDenied):
        victim_service.messages(world.instance, session)
    added = _entries(world.instance)[before:]
    # The allow that preceded the vault, then the denial: the ledger's last word is "deny".
    assert [e["decision"] for e in added] == ["allow", "deny"]
    last = added[-1]
    assert last["case"] == session.case_id and last["action"] == "view"
    assert last["detail"]["outcome"] == "vault_error"


@pytest.mark.parametrize("lang, calm", [
    ("en", "Your messages cannot be shown right now. Please try again later."),
    ("es", "Ahora mismo no podemos mostrar tus mensajes. Vuelve a intentarlo más tarde."),
    ("ar", "لا يمكننا عرض رسائلك الآن. حاولي مرة أخرى لاحقًا."),
])
def test_the_return_page_says_so_calmly_in_her_language(
    sqlite_world: World, monkeypatch: pytest.MonkeyPatch, lang: str, calm: str
) -> None:
    session, codename = _report(sqlite_world)
    _staff_message(sqlite_world, session.case_id, "Hello, I am your caseworker.")
    monkeypatch.setattr(sqlite_world.instance.vault, "open_blob", _broken_vault)
    with TestClient(create_app(sqlite_world.instance)) as client:
        match = _TOKEN.search(client.get("/return").text)
        assert match is not None
        page = client.post("/return", data={"csrf_token": match.group(1),
                                            "codename": codename, "lang": lang})
    assert page.status_code == 200
    assert calm in page.text
    assert "Hello, I am your caseworker." not in page.text


# -- 2. a session or a receipt for a case that is not hers -------------------------------------

def _forged(world: World) -> tuple[VictimSession, str]:
    mine, _ = _report(world)
    theirs, _ = _report(world)
    return VictimSession(subject_id=mine.subject_id, case_id=theirs.case_id), theirs.case_id


_CALLS: dict[str, tuple[Callable[[Instance, VictimSession], object], str]] = {
    "case_overview": (victim_service.case_overview, "view"),
    "messages": (victim_service.messages, "view"),
    "consent_states": (victim_service.consent_states, "view"),
    "who_has_seen": (victim_service.who_has_seen, "view"),
    "send_message": (lambda i, s: victim_service.send_message(i, s, "probing"), "update"),
    "set_consent": (lambda i, s: victim_service.set_consent(
        i, s, Recipient.POLICE, Purpose.INVESTIGATION, give=True), "update"),
    "request_erasure": (erasure_service.request_erasure, "erase"),
    "cancel_erasure": (erasure_service.cancel_erasure, "update"),
}


@pytest.mark.parametrize("name", sorted(_CALLS))
def test_a_session_for_another_case_is_a_denial_on_record(world: World, name: str) -> None:
    call, action = _CALLS[name]
    forged, their_case = _forged(world)
    before = len(_entries(world.instance))
    with pytest.raises(AccessDenied):
        call(world.instance, forged)
    added = _entries(world.instance)[before:]
    assert [(e["decision"], e["case"], e["action"]) for e in added] == [
        ("deny", their_case, action)]
    assert added[0]["actor"]["role"] == "victim"


def test_a_receipt_for_another_cases_entry_is_a_denial_on_record(world: World) -> None:
    mine, _ = _report(world)
    theirs, _ = _report(world)
    other_entry = victim_service.who_has_seen(world.instance, theirs)[0]
    before = len(_entries(world.instance))
    with pytest.raises(AccessDenied):
        victim_service.receipt(world.instance, mine, other_entry.index)
    added = _entries(world.instance)[before:]
    assert [(e["decision"], e["case"]) for e in added] == [("deny", mine.case_id)]
    assert added[0]["detail"] == {"event": "receipt", "entry": str(other_entry.index)}


# -- 3. no assert on the erasure path --------------------------------------------------------

def test_an_erasure_no_longer_pending_is_a_clear_error_not_an_assertion(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    session, _ = _report(world)
    real = victim_service.case_overview

    def cancelled_meanwhile(instance: Instance, got: VictimSession) -> Any:
        # As if another tab cancelled between the request's commit and this read.
        return dataclasses.replace(real(instance, got), erasure_due_at=None)

    monkeypatch.setattr(erasure_service, "case_overview", cancelled_meanwhile)
    with pytest.raises(InvalidInput, match="no longer pending"):
        erasure_service.request_erasure(world.instance, session)


def test_an_erasure_that_cannot_be_placed_shows_her_page_not_a_500(
    sqlite_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, codename = _report(sqlite_world)

    def no_longer_pending(*_args: object, **_kwargs: object) -> datetime:
        raise InvalidInput("the erasure request is no longer pending")

    monkeypatch.setattr(erasure_service, "request_erasure", no_longer_pending)
    with TestClient(create_app(sqlite_world.instance)) as client:
        token = _TOKEN.search(client.get("/return").text)
        assert token is not None
        client.post("/return", data={"csrf_token": token.group(1), "codename": codename})
        fresh = _TOKEN.search(client.get("/return").text)
        assert fresh is not None
        erased = client.post("/return/erase", data={"csrf_token": fresh.group(1),
                                                    "confirm": "yes"})
    assert erased.status_code == 200 and erased.url.path == "/return"
    assert "Something went wrong. Nothing was saved. Please try again." in erased.text
    assert "Your report" in erased.text  # her page, not an error page
