"""Signing a checkpoint per batch without re-proving what this process already knows.

The sequencer signs before every batch. The consistency proof from the stored tree to the last
signed checkpoint is read only when the stored right edge is not exactly the edge this process
extended in memory from one already proven (issue 13: it was 60 % of a durable batch). These
tests show both halves: the proof is skipped for the sequencer's own batches, and every kind of
edit still makes the signer read it, and refuse.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert
from tests.support.ledger_helpers import ORIGIN, make_decision, make_ledger, rebuild_tree

from safereport.errors import LedgerError
from safereport.ledger import tree
from safereport.ledger.log import Ledger
from safereport.ledger.notes import Checkpoint, format_checkpoint
from safereport.store.ledger import ledger_checkpoints


@pytest.fixture
def proofs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every consistency proof the ledger reads from the stored tree, as (old, new)."""
    read: list[tuple[int, int]] = []
    real = tree.consistency_proof

    def counting(conn: Any, old: int, new: int) -> list[bytes]:
        read.append((old, new))
        return real(conn, old, new)

    monkeypatch.setattr(tree, "consistency_proof", counting)
    return read


@pytest.fixture
def ledger(engine: Engine, tmp_path: Path) -> Iterator[Ledger]:
    made = make_ledger(engine)
    made = Ledger(engine, made.signer, ORIGIN, signed_state=tmp_path / "ledger.last-checkpoint")
    yield made
    made.close()


def _commit(ledger: Ledger, count: int) -> None:
    for i in range(count):
        ledger.commit(make_decision(), actor_id=f"u{i}", case_id="c")


def test_the_sequencers_own_batches_are_signed_without_a_proof_read(
    ledger: Ledger, proofs: list[tuple[int, int]]
) -> None:
    _commit(ledger, 3)
    ledger.sign_checkpoint()
    read_before = len(proofs)
    _commit(ledger, 20)
    final = ledger.sign_checkpoint()
    assert final.size == 23
    assert ledger.sequencer.batches >= 20
    assert proofs[read_before:] == []  # each batch signed, none re-proven
    ledger.verify()  # and what was signed is the stored tree


def test_an_edge_read_from_the_database_is_proven(
    engine: Engine, ledger: Ledger, proofs: list[tuple[int, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _commit(ledger, 5)
    ledger.sign_checkpoint()
    checked: list[int] = []
    real = ledger._check_extends

    def counting(conn: Any, known: Any, size: int, root: bytes) -> None:
        checked.append(size)
        real(conn, known, size, root)

    monkeypatch.setattr(ledger, "_check_extends", counting)
    other = Ledger(engine, ledger.signer, ORIGIN)  # another process: its memory is empty
    with engine.begin() as conn:
        other.append(conn, make_decision(), actor_id="o", case_id="c")
    other.sign_checkpoint()
    assert proofs[-1] == (5, 6)
    # This process's edge is stale now (its key names size 5): before it signs again (its
    # next batch, or its idle signature if that comes first) the stored tree of 6 entries is
    # checked in full against the last checkpoints it knows.
    _commit(ledger, 1)
    assert 6 in checked
    ledger.sign_checkpoint()
    ledger.verify()
    other.close()


def test_a_rebuilt_tree_under_the_same_newest_entry_is_refused(ledger: Ledger) -> None:
    """The newest entry (and so the cache's key) is unchanged; an older one is rewritten and
    the tree rebuilt over it: the stored edge differs from memory, the proof is read, refused."""
    _commit(ledger, 9)
    ledger.sign_checkpoint()

    def forge(rows: list[dict[str, Any]]) -> None:
        rows[2]["leaf"] = rows[2]["leaf"].replace(b'"u2"', b'"x2"')

    rebuild_tree(ledger, forge)
    with pytest.raises(LedgerError, match="refusing to sign"):
        ledger.commit(make_decision(), actor_id="next", case_id="c")


def test_a_checkpoint_it_never_signed_or_proved_is_proven(
    ledger: Ledger, proofs: list[tuple[int, int]]
) -> None:
    """A genuine checkpoint put in the table behind the process's back (signed with the log's
    key, over the stored tree, at a size this process never signed) is not one of the edge's
    anchors: the proof is read again before the next signature."""
    ledger.commit_many([make_decision() for _ in range(8)], actor_id="u", case_id="c")
    ledger.sign_checkpoint()  # one batch: sizes 0 and 8 signed, never 6
    with ledger.engine.begin() as conn:
        root = tree.root(conn, 6)
        note = ledger.signer.sign_note(format_checkpoint(Checkpoint(ORIGIN, 6, root)))
        conn.execute(delete(ledger_checkpoints))
        conn.execute(insert(ledger_checkpoints).values(
            size=6, root=root, note=note, created_at=datetime.now(UTC)))
    read_before = len(proofs)
    _commit(ledger, 1)
    assert (6, 8) in proofs[read_before:]
    ledger.verify()
