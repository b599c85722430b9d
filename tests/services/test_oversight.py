"""The auditor's view: verification, witness cosignatures, denials and counts; no case data."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.staff_world import StaffWorld

from safereport.domain.vocabulary import DataCategory, Purpose, StatusEvidence
from safereport.errors import AccessDenied, InvalidInput
from safereport.ledger.witness import Witness
from safereport.services import disclosure, oversight
from safereport.services.disclosure import DisclosureForm


def test_overview_counts_denials_without_case_data(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    filed = w.file("officer", sensitive=False)
    disclosure.request_disclosure(w.instance, w.users["officer"], DisclosureForm(
        case_id=filed.case_id, recipient_org_id=w.orgs["ie"],
        purpose=Purpose.IMMIGRATION_ENFORCEMENT, categories=frozenset({DataCategory.IDENTITY}),
        status_evidence=StatusEvidence.SUSPECTED))
    view = oversight.audit_overview(w.instance, w.users["auditor"])
    assert view.verified and view.size >= 2
    assert view.by_effect["deny"] >= 1
    assert any(rule == "F-firewall" and effect == "deny" for rule, effect, _ in view.by_rule)
    denied = view.denied[0]
    assert denied.actor_role == "police_officer" and denied.recipient == "immigration_enforcement"
    assert not hasattr(denied, "case_id") and not hasattr(denied, "actor_id")
    with pytest.raises(AccessDenied):
        oversight.audit_overview(w.instance, w.users["cw"])


def test_witness_cosignature_is_checked_and_kept(sqlite_world: StaffWorld, tmp_path: Path) -> None:
    w = sqlite_world
    w.file()
    witness = Witness.create(tmp_path / "witness", "witness.example")
    witness.trust(w.instance.ledger.verifier_key())
    cosigned = witness.cosign(w.instance.ledger.checkpoint(new=True))
    auditor = w.users["auditor"]
    with pytest.raises(InvalidInput, match="does not verify"):
        oversight.add_cosignature(w.instance, auditor, cosigned, w.instance.ledger.verifier_key())
    size = oversight.add_cosignature(w.instance, auditor, cosigned, witness.vkey)
    view = oversight.audit_overview(w.instance, auditor)
    assert [(c.witness, c.checkpoint_size) for c in view.cosignatures] == \
        [("witness.example", size)]
    assert view.verified
    tampered = cosigned.replace("\n\n", "\nextra\n\n", 1)
    with pytest.raises(InvalidInput):
        oversight.add_cosignature(w.instance, auditor, tampered, witness.vkey)


def test_large_logs_verify_on_request(sqlite_world: StaffWorld,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    w = sqlite_world
    w.file()
    monkeypatch.setattr(oversight, "AUTO_VERIFY_MAX", 0)
    monkeypatch.setattr(oversight, "_LAST", {})
    view = oversight.audit_overview(w.instance, w.users["auditor"])
    assert not view.verified and "not verified" in view.verification
    ok, _ = oversight.verify_now(w.instance, w.users["auditor"])
    assert ok
    view = oversight.audit_overview(w.instance, w.users["auditor"])
    assert view.verified and "checked" in view.verification
