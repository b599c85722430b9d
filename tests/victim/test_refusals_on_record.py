"""The victim's door fails closed, and every refusal there is a denial in the ledger (I2)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from tests.victim._client import TestClient
from tests.victim._world import World

from safereport.domain.case import new_id
from safereport.domain.vocabulary import DataCategory
from safereport.errors import AccessDenied, VaultError
from safereport.ledger.record import parse_leaf
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
            conn, case_id, DataCategory.CASE_NOTES, victim_service.message_label(note_id),
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
