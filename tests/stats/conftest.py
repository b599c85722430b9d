"""Synthetic ledger entries for the statistics tests (only the columns statistics read)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, insert, select

from safereport.ledger.keys import NoteSigner
from safereport.store.ledger import ledger_entries

ORIGIN = "stats.test.example/log"


@dataclass(frozen=True)
class Entry:
    case_id: str | None
    actor_role: str = "caseworker"
    recipient: str = "none"
    purpose: str = "support"
    effect: str = "allow"
    rules: str = "C-casework"
    month: str = "2026-10"


def add_entries(engine: Engine, entries: Iterable[Entry]) -> None:
    with engine.begin() as conn:
        start = conn.execute(select(func.count()).select_from(ledger_entries)).scalar_one()
        rows = []
        for offset, e in enumerate(entries):
            leaf = f"synthetic {start + offset}".encode()
            rows.append({
                "idx": start + offset, "created_at": datetime(2026, 10, 15, tzinfo=UTC),
                "month": e.month, "case_id": e.case_id, "actor_id": "actor",
                "actor_role": e.actor_role, "actor_org_kind": None, "holder": "support_service",
                "action": "view", "purpose": e.purpose, "recipient": e.recipient,
                "effect": e.effect, "rules": e.rules, "regime": "firewall", "leaf": leaf,
                "leaf_hash": hashlib.sha256(b"\x00" + leaf).digest(),
            })
        if rows:
            conn.execute(insert(ledger_entries), rows)


@pytest.fixture(scope="session")
def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)
