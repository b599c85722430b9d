"""Tampering is caught: by `verify`, by the signer (which refuses), and by a witness."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, update
from tests.support.ledger_helpers import ORIGIN, append_n, make_ledger, rebuild_tree

from safereport.errors import LedgerError
from safereport.ledger import merkle, tree
from safereport.ledger.audit import LedgerTampered
from safereport.ledger.keys import verify_cosignature
from safereport.ledger.log import Ledger
from safereport.ledger.notes import Checkpoint, format_checkpoint, parse_note
from safereport.ledger.record import index_columns, parse_leaf
from safereport.ledger.witness import Witness, WitnessRefusal
from safereport.store.ledger import ledger_checkpoints, ledger_entries


@pytest.fixture
def ledger(engine: Engine) -> Ledger:
    log = make_ledger(engine)
    append_n(log, 40)
    log.checkpoint(new=True)
    return log


@pytest.fixture
def witness(tmp_path: Path, ledger: Ledger) -> Witness:
    made = Witness.create(tmp_path / "witness", "witness.example/w1")
    made.trust(ledger.verifier_key())
    made.cosign(ledger.checkpoint())
    return made


def _leaf(ledger: Ledger, index: int) -> bytes:
    return ledger.entry(index)


def _set_leaf(ledger: Ledger, index: int, leaf: bytes, *, rehash: bool) -> None:
    assert leaf != ledger.entry(index), "the forgery must change the leaf"
    values: dict[str, object] = {"leaf": leaf}
    # A careful attacker keeps the copy columns in step with the forged leaf.
    values |= {k: v for k, v in index_columns(parse_leaf(leaf)).items() if k != "created_at"}
    if rehash:
        values["leaf_hash"] = merkle.leaf_hash(leaf)
    with ledger.engine.begin() as conn:
        conn.execute(update(ledger_entries).where(ledger_entries.c.idx == index).values(values))


def test_untouched_log_verifies(ledger: Ledger) -> None:
    report = ledger.verify()
    assert report.size == 40 and report.checkpoints == 1


def test_edited_leaf_is_named(ledger: Ledger) -> None:
    forged = _leaf(ledger, 12).replace(b'"u12"', b'"xx2"')
    _set_leaf(ledger, 12, forged, rehash=False)
    with pytest.raises(LedgerTampered, match=r"^entry 12: "):
        ledger.verify()


def test_edited_leaf_with_its_hash_breaks_the_tree(ledger: Ledger) -> None:
    _set_leaf(ledger, 12, _leaf(ledger, 12).replace(b'"u12"', b'"xx2"'), rehash=True)
    with pytest.raises(LedgerTampered, match=r"entries 12\.\.13: the stored tree node"):
        ledger.verify()


def test_rebuilt_tree_fails_the_signed_checkpoint_and_the_signer_refuses(
    ledger: Ledger,
) -> None:
    _set_leaf(ledger, 5, _leaf(ledger, 5).replace(b'"deny"', b'"allow"'), rehash=True)
    rebuild_tree(ledger)
    with pytest.raises(LedgerTampered, match="checkpoint 40: its root does not match"):
        ledger.verify()
    append_n(ledger, 1)
    with pytest.raises(LedgerError, match="refusing to sign"):
        ledger.checkpoint(new=True)


def test_deleted_newest_entries(ledger: Ledger, witness: Witness) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(delete(ledger_entries).where(ledger_entries.c.idx >= 37))
    rebuild_tree(ledger)
    with pytest.raises(LedgerTampered, match="checkpoint 40: it covers 40 entries, the log has 37"):
        ledger.verify()
    # The signer will not sign a shorter log...
    append_n(ledger, 1)
    with pytest.raises(LedgerError, match="refusing to sign"):
        ledger.checkpoint(new=True)
    # ...and a checkpoint signed with the stolen key for the shorter log is refused.
    with ledger.engine.begin() as conn:
        root = tree.root(conn, 38)
    forged = ledger.signer.sign_note(format_checkpoint(Checkpoint(ORIGIN, 38, root)))
    with pytest.raises(WitnessRefusal, match="smaller"):
        witness.cosign(forged)
    assert witness.refusals()[-1]["offered"] == forged


def test_resigned_rewritten_history(ledger: Ledger, witness: Witness) -> None:
    """The operator rewrites an entry, rebuilds the tree, drops old checkpoints, re-signs."""
    old_note = ledger.checkpoint()
    _set_leaf(ledger, 5, _leaf(ledger, 5).replace(b'"deny"', b'"allow"'), rehash=True)
    rebuild_tree(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(delete(ledger_checkpoints))
    append_n(ledger, 4)
    new_note = ledger.checkpoint(new=True)  # the database alone no longer shows the rewrite
    ledger.verify()
    # The checkpoint the witness holds does.
    with pytest.raises(LedgerTampered, match="witness: its root does not match"):
        ledger.verify([("witness", old_note)])
    proof = ledger.consistency(40, 44)
    with pytest.raises(WitnessRefusal, match="not a prefix"):
        witness.cosign(new_note, proof)
    refusal = witness.refusals()[-1]
    assert refusal["last_cosigned"] == parse_note(old_note).render()
    assert witness.last(ORIGIN) == parse_note(old_note).render()


def test_witness_cosigns_an_honest_log(ledger: Ledger, witness: Witness) -> None:
    for step in range(3):
        append_n(ledger, 5 + step)
        old = int(parse_note(witness.last(ORIGIN) or "").text.split("\n")[1])
        note = ledger.checkpoint(new=True)
        size = int(parse_note(note).text.split("\n")[1])
        cosigned = parse_note(witness.cosign(note, ledger.consistency(old, size)))
        assert verify_cosignature(cosigned, witness.signer.verifier) > 1_700_000_000
        cosigned.verify(ledger.signer.verifier)
    assert witness.refusals() == []
    # The same checkpoint again is fine; a forged signature is not.
    witness.cosign(ledger.checkpoint())
    forged = ledger.checkpoint().replace(ORIGIN + " ", ORIGIN + " A", 1)
    with pytest.raises(LedgerError):
        witness.cosign(forged)


def test_witness_refuses_a_fork_and_unknown_logs(ledger: Ledger, witness: Witness) -> None:
    other_root = merkle.leaf_hash(b"fork")
    fork = ledger.signer.sign_note(format_checkpoint(Checkpoint(ORIGIN, 40, other_root)))
    with pytest.raises(WitnessRefusal, match="forked"):
        witness.cosign(fork)
    other = make_ledger(ledger.engine)
    note = other.signer.sign_note("other.example/log\n1\n" + "A" * 43 + "=\n")
    with pytest.raises(WitnessRefusal, match="does not watch"):
        witness.cosign(note)


def test_signer_remembers_outside_the_database(engine: Engine, tmp_path: Path) -> None:
    """Wiping the checkpoint table and truncating the log does not fool the signer."""
    state = tmp_path / "ledger.last-checkpoint"
    log = make_ledger(engine)
    log = Ledger(engine, log.signer, ORIGIN, signed_state=state)
    append_n(log, 10)
    signed = log.checkpoint(new=True)
    assert state.read_text() == signed
    with engine.begin() as conn:
        conn.execute(delete(ledger_checkpoints))
        conn.execute(delete(ledger_entries).where(ledger_entries.c.idx >= 8))
    rebuild_tree(log)
    append_n(log, 5)
    with pytest.raises(LedgerError, match="refusing to sign"):
        log.checkpoint(new=True)
    assert state.read_text() == signed


@pytest.mark.parametrize(
    ("column", "value"),
    [("case_id", "0"), ("effect", "allow"), ("rules", "C-casework"), ("actor_role", "victim"),
     ("actor_org_kind", "support_service"), ("holder", "police"), ("action", "erase"),
     ("purpose", "support"), ("recipient", "court"), ("month", "1999-01"),
     ("actor_id", "someone-else"), ("regime", "npcc-2020")],
)
def test_an_edited_copy_column_is_named(ledger: Ledger, column: str, value: str) -> None:
    """Review finding 1: the columns are an index; verify compares each with its leaf."""
    with ledger.engine.begin() as conn:
        now = conn.execute(select(ledger_entries.c[column])
                           .where(ledger_entries.c.idx == 7)).scalar()
        changed = value if now != value else value + "-x"
        conn.execute(update(ledger_entries).where(ledger_entries.c.idx == 7)
                     .values({column: changed}))
    with pytest.raises(LedgerTampered, match=rf"^entry 7: its {column} column says"):
        ledger.verify()


def test_an_edited_time_column_is_named(ledger: Ledger) -> None:
    from datetime import UTC, datetime

    with ledger.engine.begin() as conn:
        conn.execute(update(ledger_entries).where(ledger_entries.c.idx == 3)
                     .values(created_at=datetime(2001, 1, 1, tzinfo=UTC)))
    with pytest.raises(LedgerTampered, match=r"^entry 3: its created_at column"):
        ledger.verify()


def test_views_come_from_the_leaf_not_the_columns(ledger: Ledger) -> None:
    """Who-has-seen is built from signed leaves: edited columns neither add another case's
    entries nor change what an entry says (review finding 1)."""
    (other,) = append_n(ledger, 1, case_id="case-2")
    truth = parse_leaf(ledger.entry(7))
    assert truth["case"] == "case-1"
    with ledger.engine.begin() as conn:
        conn.execute(update(ledger_entries).where(ledger_entries.c.idx == 7)
                     .values(effect="allow" if truth["decision"] == "deny" else "deny",
                             rules="X-edited"))
        conn.execute(update(ledger_entries).where(ledger_entries.c.idx == other)
                     .values(case_id="case-1"))  # another case's entry pointed at hers
    with ledger.engine.connect() as conn:
        shown = {view.index: view for view in ledger.entries_for_case(conn, "case-1")}
    assert other not in shown
    assert shown[7].effect == truth["decision"] and shown[7].rules == tuple(truth["rules"])
    with pytest.raises(LedgerTampered, match="entry 7: its effect column"):
        ledger.verify()


def test_a_leaf_edited_into_text_is_named_not_a_crash(ledger: Ledger) -> None:
    # The walk-through's tamper: SQL's replace() on a leaf stores text where bytes were
    # (SQLite keeps any type in any column); `ledger verify` raised a TypeError.
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite keeps a value of another type in a binary column")
    with ledger.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE ledger_entries SET leaf = replace(leaf, '\"allow\"', '\"deny\"') "
            "WHERE idx = 22"
        )
    with pytest.raises(LedgerTampered, match=r"entry 22: its leaf is not stored as bytes"):
        ledger.verify()


def test_an_entry_edited_with_its_hash_just_before_a_checkpoint_is_named(
        engine: Engine) -> None:
    # The operator's walk-through: entry 22 edited (hash recomputed) under checkpoint 23 was
    # reported as "checkpoint 23: its root does not match", naming no entry.
    log = make_ledger(engine)
    append_n(log, 23)
    log.checkpoint(new=True)
    append_n(log, 8)
    log.checkpoint(new=True)
    _set_leaf(log, 22, _leaf(log, 22).replace(b'"u22"', b'"xx2"'), rehash=True)
    with pytest.raises(LedgerTampered, match=r"^entries 22\.\.23: the stored tree node .*"
                                             r"\(and so checkpoint 23: its root does not"):
        log.verify()
