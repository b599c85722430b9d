"""Decisions and a Ledger for tests (a Decision is normally minted only by the guard)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, select

from safereport.domain.vocabulary import DataCategory, Effect, Obligation
from safereport.ledger import merkle, tree
from safereport.ledger.keys import NoteSigner
from safereport.ledger.log import Ledger
from safereport.ledger.witness import Witness
from safereport.policy.decision import Decision, _mint_decision
from safereport.store.ledger import ledger_entries, ledger_nodes
from safereport.store.witnesses import save_cosignature

ORIGIN = "safereport.local/test"


def make_decision(
    effect: Effect = Effect.ALLOW,
    *,
    obligations: frozenset[Obligation] = frozenset(),
    action: str = "view",
    purpose: str = "support",
    categories: frozenset[DataCategory] = frozenset({DataCategory.CONTACT}),
) -> Decision:
    return _mint_decision(
        effect=effect,
        obligations=obligations,
        rules=("S-own-case",) if effect is not Effect.DENY else ("C-default",),
        reasons=("test",),
        regime="firewall",
        policy_hash="ab" * 32,
        categories=categories,
        request={
            "actor": {"role": "caseworker", "same_org": True},
            "holder": "support_service",
            "action": action,
            "purpose": purpose,
            "recipient": "none",
            "subject": {"role": "victim"},
            "data": sorted(categories),
            "context": {},
        },
    )


def make_ledger(engine: Engine, signer: NoteSigner | None = None) -> Ledger:
    signer = signer or NoteSigner(ORIGIN, b"\x07" * 32)
    return Ledger(engine, signer, ORIGIN)


def append_n(ledger: Ledger, count: int, case_id: str | None = "case-1") -> list[int]:
    indices = []
    for i in range(count):
        with ledger.engine.begin() as conn:
            effect = Effect.DENY if i % 3 == 2 else Effect.ALLOW
            indices.append(
                ledger.append(conn, make_decision(effect), actor_id=f"u{i}", case_id=case_id)
            )
    return indices


def cosign(ledger: Ledger, note: str, state: Path, count: int = 2) -> list[Witness]:
    """``count`` witnesses (state under ``state``) cosign ``note``, the log's first checkpoint
    they see; the log keeps their cosignatures, as its witness client does."""
    size = int(note.split("\n")[1])
    witnesses = []
    for number in range(1, count + 1):
        witness = Witness.create(state / f"w{number}", f"witness.example/w{number}")
        witness.trust(ledger.verifier_key())
        line = witness.add_checkpoint(("old 0\n\n" + note).encode())
        with ledger.engine.begin() as conn:
            save_cosignature(conn, size,
                             f"{witness.signer.name}+{witness.signer.key_id.hex()}", line)
        witnesses.append(witness)
    return witnesses


def rebuild_tree(
    ledger: Ledger, edit: Callable[[list[dict[str, Any]]], None] | None = None
) -> None:
    """What a careful attacker does after editing leaves (``edit`` may change the entries'
    rows first): recompute every stored node and leaf hash."""
    with ledger.engine.begin() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(select(ledger_entries).order_by(ledger_entries.c.idx))
        ]
        if edit is not None:
            edit(rows)
        conn.execute(delete(ledger_nodes))
        conn.execute(delete(ledger_entries))
        for row in rows:
            row.pop("idx")
            row["leaf_hash"] = merkle.leaf_hash(row["leaf"])
        tree.append_rows(conn, 0, rows)
