"""Audit: the one road, checked over the source (I1). A new decryption site fails here first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "safereport"


def _files_using(pattern: str) -> set[str]:
    found = set()
    for path in SRC.rglob("*.py"):
        if re.search(pattern, path.read_text(encoding="utf-8")):
            found.add(path.relative_to(SRC).as_posix())
    return found


@pytest.mark.parametrize(
    ("pattern", "allowed"),
    [
        # Decrypting case data: only services that first hold a Grant from access_case.
        (r"\.open_fields\(", {"services/access.py", "vault/vault.py"}),
        (r"\.open_blob\(", {"services/casework.py", "services/disclosure.py",
                            "services/evidence.py", "services/victim.py", "vault/vault.py"}),
        # Minting the capabilities: the guard makes Decisions, the ledger makes Grants.
        (r"\b_mint_decision\b", {"policy/decision.py", "policy/guard.py"}),
        (r"\b_mint_grant\b", {"policy/decision.py", "ledger/log.py"}),
        # A Grant is asked for on the road only: access_case, and the recipient's side of a
        # disclosure (read_package: the guard decides the release again, the ledger records
        # who opened it, then the Grant opens the package; issue 17).
        (r"\.ledger\.grant\(", {"services/access.py", "services/disclosure.py"}),
        # Test doubles never reach production code.
        (r"\bUnsafeGrantForTests\(", {"policy/decision.py"}),
        (r"\bUnsafeMemoryKeyStore\(", {"vault/keystore.py"}),
    ],
)
def test_sensitive_calls_stay_where_they_belong(pattern: str, allowed: set[str]) -> None:
    assert _files_using(pattern) <= allowed, pattern


def test_every_open_blob_outside_the_vault_uses_a_grant_from_access_case() -> None:
    for name in ("services/casework.py", "services/disclosure.py", "services/evidence.py",
                 "services/victim.py"):
        text = (SRC / name).read_text(encoding="utf-8")
        for call in re.finditer(r"\.open_blob\(\s*conn,\s*([\w.]+)", text):
            grant = call.group(1)
            assert grant in ("grant", "access.grant"), (name, grant)
        assert "access_case(" in text or "access_case_parts(" in text, name
