"""The stored ledger on SQLite and PostgreSQL: append, grant, proofs, checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from tests.support.ledger_helpers import ORIGIN, append_n, make_decision, make_ledger

from safereport.domain.vocabulary import Effect, Obligation
from safereport.errors import AccessDenied, LedgerError
from safereport.ledger import merkle, tree
from safereport.ledger.notes import parse_checkpoint, parse_note
from safereport.ledger.record import parse_leaf
from safereport.ledger.verifier import check_proof, parse_proof
from safereport.store.ledger import ledger_entries, ledger_nodes


def test_append_returns_consecutive_indices_and_fills_columns(engine: Engine) -> None:
    ledger = make_ledger(engine)
    assert append_n(ledger, 5) == [0, 1, 2, 3, 4]
    with engine.connect() as conn:
        row = conn.execute(select(ledger_entries).where(ledger_entries.c.idx == 2)).one()
    assert row.effect == "deny" and row.actor_role == "caseworker"
    assert row.holder == "support_service" and row.action == "view"
    assert row.purpose == "support" and row.recipient == "none"
    assert row.rules == "C-default" and row.regime == "firewall"
    assert len(row.month) == 7 and row.case_id == "case-1"
    assert bytes(row.leaf_hash) == merkle.leaf_hash(bytes(row.leaf))
    record = parse_leaf(bytes(row.leaf))
    assert record["decision"] == "deny" and len(record["salt"]) == 32
    assert record["actor"] == {"id": "u2", "role": "caseworker", "org": None}


def test_append_is_part_of_the_callers_transaction(engine: Engine) -> None:
    ledger = make_ledger(engine)
    append_n(ledger, 2)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        ledger.append(conn, make_decision(), actor_id="u", case_id="c")
        raise RuntimeError("the access failed")
    assert ledger.size() == 2
    assert append_n(ledger, 1) == [2]


def test_nodes_are_stored_at_append_time(engine: Engine) -> None:
    ledger = make_ledger(engine)
    append_n(ledger, 11)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(ledger_nodes)).scalar()
    assert count == sum(11 >> level for level in range(1, 5))


def test_grant_needs_the_committed_matching_entry(engine: Engine) -> None:
    ledger = make_ledger(engine)
    decision = make_decision()
    with engine.connect() as conn:
        conn.begin()
        index = ledger.append(conn, decision, actor_id="u1", case_id="case-9")
        conn.rollback()
    with pytest.raises(LedgerError, match="not committed"):
        ledger.grant(decision, index, "case-9")
    with engine.begin() as conn:
        assert ledger.append(conn, decision, actor_id="u1", case_id="case-9") == index
    grant = ledger.grant(decision, index, "case-9")
    assert grant.ledger_index == index and grant.case_id == "case-9"
    with pytest.raises(LedgerError, match="another decision"):
        ledger.grant(decision, index, "case-10")
    with pytest.raises(LedgerError, match="another decision"):
        ledger.grant(make_decision(purpose="safeguarding"), index, "case-9")


def test_grant_refuses_denials_and_unmet_obligations(engine: Engine) -> None:
    ledger = make_ledger(engine)
    denied = make_decision(Effect.DENY)
    conditional = make_decision(
        Effect.CONDITIONAL, obligations=frozenset({Obligation.SUPERVISOR_APPROVAL})
    )
    with engine.begin() as conn:
        first = ledger.append(conn, denied, actor_id="u", case_id="c")
        second = ledger.append(conn, conditional, actor_id="u", case_id="c")
    with pytest.raises(AccessDenied):
        ledger.grant(denied, first, "c")
    with pytest.raises(AccessDenied, match="supervisor_approval"):
        ledger.grant(conditional, second, "c")
    grant = ledger.grant(conditional, second, "c", frozenset({Obligation.SUPERVISOR_APPROVAL}))
    assert grant.ledger_index == second


def test_entries_for_case(engine: Engine) -> None:
    ledger = make_ledger(engine)
    append_n(ledger, 3, case_id="mine")
    append_n(ledger, 2, case_id="other")
    moment = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    with engine.begin() as conn:
        ledger.append(
            conn, make_decision(), actor_id="p", case_id="mine", now=moment, actor_org_kind="police"
        )
    with engine.connect() as conn:
        views = ledger.entries_for_case(conn, "mine")
    assert [v.index for v in views] == [0, 1, 2, 5]
    assert [v.effect for v in views] == ["allow", "allow", "deny", "allow"]
    assert views[-1].time == moment and views[-1].actor_org_kind == "police"
    assert views[0].categories == ("contact",)


def test_proofs_for_every_entry_verify_offline(engine: Engine) -> None:
    ledger = make_ledger(engine)
    append_n(ledger, 13)
    vkey = ledger.verifier_key()
    for index in range(13):
        proof = ledger.proof_for(index)
        checkpoint = check_proof(proof, vkey, ledger.entry(index))
        assert checkpoint.size == 13 and checkpoint.origin == ORIGIN
        with pytest.raises(LedgerError):
            check_proof(proof, vkey, ledger.entry((index + 1) % 13))
    assert len(parse_proof(ledger.proof_for(0)).hashes) == 4


def test_proof_for_a_new_entry_signs_a_new_checkpoint(engine: Engine) -> None:
    ledger = make_ledger(engine)
    append_n(ledger, 3)
    first = ledger.checkpoint()
    append_n(ledger, 2)
    assert ledger.checkpoint() == first
    proof = ledger.proof_for(4)
    assert parse_proof(proof).checkpoint_note != first
    assert parse_checkpoint(parse_note(ledger.checkpoint()).text).size == 5


def test_consistency_between_checkpoints(engine: Engine) -> None:
    ledger = make_ledger(engine)
    roots = {}
    for size in range(1, 20):
        append_n(ledger, 1)
        note = parse_note(ledger.checkpoint(new=True))
        note.verify(ledger.signer.verifier)
        roots[size] = parse_checkpoint(note.text).root
    for old in range(1, 20):
        for new in (old, 19):
            proof = ledger.consistency(old, new)
            merkle.verify_consistency(old, new, proof, roots[old], roots[new])


def test_no_entry_and_bad_sizes(engine: Engine) -> None:
    ledger = make_ledger(engine)
    append_n(ledger, 2)
    with pytest.raises(LedgerError):
        ledger.entry(2)
    with pytest.raises(LedgerError):
        ledger.proof_for(2)
    with pytest.raises(LedgerError):
        ledger.consistency(1, 3)
    with pytest.raises(LedgerError):
        ledger.consistency(2, 1)


def test_empty_log_checkpoint(engine: Engine) -> None:
    ledger = make_ledger(engine)
    checkpoint = parse_checkpoint(parse_note(ledger.checkpoint()).text)
    assert checkpoint.size == 0 and checkpoint.root == merkle.EMPTY_ROOT


def test_two_writers_and_rollbacks_keep_the_tree_right(engine: Engine) -> None:
    """Each Ledger caches its right edge; other writers and rollbacks must invalidate it."""
    first, second = make_ledger(engine), make_ledger(engine)
    for step in range(12):
        writer = first if step % 3 else second
        with engine.connect() as conn:
            conn.begin()
            writer.append(conn, make_decision(), actor_id=f"s{step}", case_id="c")
            if step % 4 == 1:
                conn.rollback()
            else:
                conn.commit()
    assert first.size() == 9
    first.checkpoint(new=True)
    assert second.verify().size == 9


@pytest.mark.slow
def test_stored_tree_proofs_for_every_size_up_to_64(engine: Engine) -> None:
    """The database-backed tree gives the RFC 6962 root and valid proofs at every size."""
    from tests.ledger.test_merkle import mth

    ledger = make_ledger(engine)
    append_n(ledger, 64)
    with engine.connect() as conn:
        leaves = [ledger.entry(i) for i in range(64)]
        roots = [tree.root(conn, size) for size in range(65)]
        assert roots == [mth(leaves[:size]) for size in range(65)]
        hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
        for size in range(1, 65):
            for index in range(size):
                proof = tree.inclusion_proof(conn, index, size)
                merkle.verify_inclusion(index, size, hashes[index], proof, roots[size])
        # Every pair is covered in memory (test_merkle); here each size to the next and to 64.
        for old in range(1, 64):
            for new in {old + 1, 64}:
                proof = tree.consistency_proof(conn, old, new)
                merkle.verify_consistency(old, new, proof, roots[old], roots[new])
