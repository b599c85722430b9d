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
from safereport.store.db import make_engine
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


# -- a quiet log: the sequencer's reads skipped while nobody else writes (SQLite) -----------


@pytest.fixture
def own_writer(engine: Engine, tmp_path: Path) -> Iterator[Ledger]:
    """The ledger as ``open_ledger`` makes it: the sequencer on an engine of its own."""
    signer = make_ledger(engine).signer
    writer = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1)
    made = Ledger(engine, signer, ORIGIN, signed_state=tmp_path / "ledger.last-checkpoint",
                  writer=writer)
    yield made
    made.close()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sequencer's reads of the log's state (size and newest leaf, latest checkpoint,
    stored right edge), by name."""
    seen: list[str] = []
    for name in ("last_entry", "latest_checkpoint_row", "compact_range"):
        real = getattr(tree, name)

        def counting(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            seen.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(tree, name, counting)
    return seen


def _forge_third(rows: list[dict[str, Any]]) -> None:
    rows[2]["leaf"] = rows[2]["leaf"].replace(b'"q2"', b'"x2"')


def _writer_batches(ledger: Ledger, count: int) -> None:
    for i in range(count):
        ledger.commit(make_decision(), actor_id=f"q{i}", case_id="c")


def test_a_quiet_log_is_not_read_again_before_each_batch(
    own_writer: Ledger, reads: list[str]
) -> None:
    _writer_batches(own_writer, 3)
    before = len(reads)
    _writer_batches(own_writer, 10)
    own_writer.sequencer.close()
    if own_writer.engine.dialect.name == "sqlite":
        assert reads[before:] == []  # ten batches, each signed over, nothing read back
    else:
        assert reads[before:].count("last_entry") >= 10  # no such number: read every time
    final = own_writer.sign_checkpoint()
    assert final.size == 13
    own_writer.verify()


def test_a_write_through_another_connection_is_read_before_the_next_batch(
    own_writer: Ledger, reads: list[str]
) -> None:
    _writer_batches(own_writer, 3)
    with own_writer.engine.begin() as conn:  # a case update's own transaction
        own_writer.append(conn, make_decision(), actor_id="w", case_id="c")
    before = len(reads)
    index = own_writer.commit(make_decision(), actor_id="after", case_id="c")
    assert index == 4  # after the other write, not over it
    assert "last_entry" in reads[before:]
    own_writer.sequencer.close()
    assert own_writer.sign_checkpoint().size == 5
    own_writer.verify()


def test_a_tree_rebuilt_through_another_connection_is_refused(own_writer: Ledger) -> None:
    _writer_batches(own_writer, 6)

    rebuild_tree(own_writer, _forge_third)
    with pytest.raises(LedgerError, match="refusing to sign"):
        own_writer.commit(make_decision(), actor_id="next", case_id="c")


def test_a_tree_rebuilt_through_the_sequencers_own_connection_is_refused(
    own_writer: Ledger,
) -> None:
    """SQLite's data_version does not change for a connection's own commits: the count of
    rows the connection has changed tells that someone wrote through it."""
    _writer_batches(own_writer, 6)

    through_writer = Ledger(own_writer.writer, own_writer.signer, ORIGIN)
    rebuild_tree(through_writer, _forge_third)  # the writer engine's one connection
    with pytest.raises(LedgerError, match="refusing to sign"):
        own_writer.commit(make_decision(), actor_id="next", case_id="c")
