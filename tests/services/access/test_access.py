"""The one road: decide, record, commit, open (I1), and fail closed with a record (I2)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from safereport.domain.fields import CaseField
from safereport.domain.vocabulary import Action, Purpose, Recipient
from safereport.errors import AccessDenied, LedgerError
from safereport.services.access import access_case
from safereport.services.instance import Instance
from safereport.services.synthetic import DemoOrgs, _actor
from safereport.store.cases import case_ids_of_org
from safereport.store.core import cases
from safereport.store.ledger import ledger_entries
from safereport.store.vault import vault_fields


def _entries(instance: Instance) -> list[tuple[int, str, str, str | None]]:
    with instance.engine.connect() as conn:
        query = select(
            ledger_entries.c.idx,
            ledger_entries.c.effect,
            ledger_entries.c.rules,
            ledger_entries.c.case_id,
        ).order_by(ledger_entries.c.idx)
        return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]


def _setup(demo: tuple[Instance, DemoOrgs]) -> tuple[Instance, DemoOrgs, str, str]:
    instance, orgs = demo
    with instance.engine.connect() as conn:
        support_case = case_ids_of_org(conn, orgs.support[0], 1)[0]
        police_case = case_ids_of_org(conn, orgs.police[0], 1)[0]
    return instance, orgs, support_case, police_case


def test_an_allowed_read_is_recorded_before_anything_is_opened(demo) -> None:  # type: ignore[no-untyped-def]
    instance, _, case_id, _ = _setup(demo)
    with instance.engine.connect() as conn:
        caseworker = _actor(conn, "caseworker1")
    result = access_case(
        instance,
        caseworker,
        case_id,
        purpose=Purpose.SUPPORT,
        fields=[CaseField.NARRATIVE, CaseField.OCCURRED],
    )
    assert result.values[CaseField.NARRATIVE]
    assert result.decision.rules == ("C-casework",)
    entries = _entries(instance)
    assert entries[-1] == (result.grant.ledger_index, "allow", "C-casework", case_id)


def test_a_denial_is_recorded_and_raised_with_reasons(demo) -> None:  # type: ignore[no-untyped-def]
    instance, _, _, police_case = _setup(demo)
    with instance.engine.connect() as conn:
        officer = _actor(conn, "police-officer1")
    before = len(_entries(instance))
    with pytest.raises(AccessDenied) as denied:
        access_case(
            instance,
            officer,
            police_case,
            action=Action.DISCLOSE,
            purpose=Purpose.IMMIGRATION_ENFORCEMENT,
            recipient=Recipient.IMMIGRATION_ENFORCEMENT,
            fields=[CaseField.NAME, CaseField.ADDRESS],
            context={"status_evidence": "confirmed"},
        )
    assert "F-firewall" in denied.value.rules
    entries = _entries(instance)
    assert len(entries) == before + 1
    assert entries[-1][1] == "deny" and entries[-1][3] == police_case


def test_another_organisation_cannot_read(demo) -> None:  # type: ignore[no-untyped-def]
    instance, orgs, _, _ = _setup(demo)
    with instance.engine.connect() as conn:
        caseworker = _actor(conn, "caseworker1")  # works for support[0]
        other_case = case_ids_of_org(conn, orgs.support[1], 1)[0]
    with pytest.raises(AccessDenied):
        access_case(instance, caseworker, other_case, purpose=Purpose.SUPPORT)
    assert _entries(instance)[-1][1] == "deny"


def test_unknown_case_and_claimed_consent_are_denials_on_record(demo) -> None:  # type: ignore[no-untyped-def]
    instance, _, case_id, _ = _setup(demo)
    with instance.engine.connect() as conn:
        caseworker = _actor(conn, "caseworker1")
    with pytest.raises(AccessDenied):
        access_case(instance, caseworker, "f" * 32, purpose=Purpose.SUPPORT)
    assert _entries(instance)[-1][1:] == ("deny", _entries(instance)[-1][2], "f" * 32)
    # Consent is read from the record; a caller cannot assert it.
    with pytest.raises(AccessDenied):
        access_case(
            instance, caseworker, case_id, purpose=Purpose.SUPPORT, context={"consent": True}
        )
    assert _entries(instance)[-1][1] == "deny"


def test_an_erased_case_is_denied(demo) -> None:  # type: ignore[no-untyped-def]
    instance, _, case_id, _ = _setup(demo)
    with instance.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == case_id).values(erased_at=func.now()))
        caseworker = _actor(conn, "caseworker1")
    with pytest.raises(AccessDenied):
        access_case(instance, caseworker, case_id, purpose=Purpose.SUPPORT)
    assert _entries(instance)[-1][1] == "deny"


def test_a_tampered_ciphertext_is_an_opaque_denial_on_record(demo) -> None:  # type: ignore[no-untyped-def]
    instance, _, case_id, _ = _setup(demo)
    with instance.engine.begin() as conn:
        caseworker = _actor(conn, "caseworker1")
        row = conn.execute(
            select(vault_fields.c.ciphertext).where(
                vault_fields.c.case_id == case_id, vault_fields.c.field == "narrative"
            )
        ).one()
        flipped = bytes([row.ciphertext[0]]) + bytes([row.ciphertext[1] ^ 1]) + row.ciphertext[2:]
        conn.execute(
            update(vault_fields)
            .where(vault_fields.c.case_id == case_id, vault_fields.c.field == "narrative")
            .values(ciphertext=flipped)
        )
    with pytest.raises(AccessDenied, match="could not be opened"):
        access_case(
            instance, caseworker, case_id, purpose=Purpose.SUPPORT, fields=[CaseField.NARRATIVE]
        )
    entries = _entries(instance)
    assert entries[-1][1] == "deny" and entries[-2][1] == "allow"  # decision, then the failure
    # other cases are unaffected
    with instance.engine.connect() as conn:
        others = [c for c in case_ids_of_org(conn, demo[1].support[0], 5) if c != case_id]
    assert access_case(instance, caseworker, others[0], purpose=Purpose.SUPPORT).values


def test_no_ledger_entry_no_data(demo, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """I1: if the ledger append fails, the transaction rolls back and nothing is opened."""
    instance, _, case_id, _ = _setup(demo)
    with instance.engine.connect() as conn:
        caseworker = _actor(conn, "caseworker1")
    before = len(_entries(instance))
    opened: list[str] = []
    monkeypatch.setattr(instance.vault, "open_parts", lambda *a, **k: opened.append("opened"))  # type: ignore[func-returns-value]

    def broken_append(*args: object, **kwargs: object) -> int:
        raise RuntimeError("disk full")

    # Both ways in (a caller's transaction, the sequencer's batch) append through _append.
    monkeypatch.setattr(instance.ledger, "_append", broken_append)
    with pytest.raises(LedgerError):
        access_case(instance, caseworker, case_id, purpose=Purpose.SUPPORT)
    assert opened == []
    assert len(_entries(instance)) == before
