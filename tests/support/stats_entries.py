"""Synthetic ledger entries for the statistics tests: plain rows (only the columns statistics
reads) or appended through the ledger itself (when a signed checkpoint must cover them)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, func, insert, select

from safereport.ledger.log import Ledger
from safereport.ledger.record import DecisionRecord
from safereport.store.ledger import ledger_entries


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
            # a real signed-leaf record whose copy columns match it (the release checks them)
            year, month = (int(part) for part in e.month.split("-"))
            moment = datetime(year, month, 15, tzinfo=UTC)
            leaf = DecisionRecord(
                time=moment, actor_id="actor", actor_role=e.actor_role, actor_org_kind=None,
                holder="support_service", action="view", purpose=e.purpose,
                recipient=e.recipient, case_id=e.case_id, categories=("identity",),
                effect=e.effect, obligations=(), rules=tuple(e.rules.split()),
                regime="firewall", policy_hash="0" * 64, salt=f"{start + offset:032x}",
                detail={},
            ).leaf()
            rows.append({
                "idx": start + offset, "created_at": moment,
                "month": e.month, "case_id": e.case_id, "actor_id": "actor",
                "actor_role": e.actor_role, "actor_org_kind": None, "holder": "support_service",
                "action": "view", "purpose": e.purpose, "recipient": e.recipient,
                "effect": e.effect, "rules": e.rules, "regime": "firewall", "leaf": leaf,
                "leaf_hash": hashlib.sha256(b"\x00" + leaf).digest(),
            })
        if rows:
            conn.execute(insert(ledger_entries), rows)


def append_entries(ledger: Ledger, entries: Iterable[Entry]) -> None:
    """The same entries through the ledger itself (tree nodes too), for signed checkpoints."""
    records = []
    for number, e in enumerate(entries):
        year, month = (int(part) for part in e.month.split("-"))
        records.append(DecisionRecord(
            time=datetime(year, month, 15, tzinfo=UTC), actor_id=f"actor-{number}",
            actor_role=e.actor_role, actor_org_kind=None, holder="support_service",
            action="view", purpose=e.purpose, recipient=e.recipient, case_id=e.case_id,
            categories=("identity",), effect=e.effect, obligations=(),
            rules=tuple(e.rules.split()), regime="firewall", policy_hash="0" * 64,
            salt=f"{number:032x}", detail={},
        ))
    with ledger.engine.begin() as conn:
        ledger.append_many(conn, records)
