"""The witness's record of refused requests is capped; the evidence of a fork is not lost.

Anyone can send ``add-checkpoint`` requests, so ``refusals.jsonl`` could otherwise grow
until the witness's disk is full. Once a file would pass half the cap it is rotated to
``refusals.1.jsonl``; the refusals that can prove a fork are kept once per checkpoint in
``evidence.jsonl``, which strangers cannot flood.
"""

from __future__ import annotations

import base64
from pathlib import Path

from sqlalchemy import Engine
from tests.support.ledger_helpers import append_n, make_ledger
from tests.support.witness import forked_ledger

from safereport.errors import LedgerError
from safereport.ledger.witness import Witness

CAP = 8 * 1024


def _request(old: int, note: str, proof: list[bytes] | None = None) -> bytes:
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof or [])]
    return ("\n".join(lines) + "\n\n" + note).encode()


def _refuse(witness: Witness, body: bytes) -> None:
    try:
        witness.add_checkpoint(body)
    except LedgerError:
        return
    raise AssertionError("the witness cosigned a bad request")


def _record_bytes(state: Path) -> int:
    return sum(p.stat().st_size for p in state.glob("refusals*.jsonl"))


def test_a_flood_of_bad_requests_keeps_the_newest_within_the_cap(
    engine: Engine, tmp_path: Path
) -> None:
    ledger = make_ledger(engine)
    witness = Witness.create(tmp_path / "witness", "witness.example/w1")
    witness = Witness(tmp_path / "witness", refusals_max_bytes=CAP)
    witness.trust(ledger.verifier_key())
    append_n(ledger, 4)
    witness.add_checkpoint(_request(0, ledger.checkpoint(new=True)))

    for number in range(300):  # about 100 bytes each: far more than the cap
        _refuse(witness, f"old {number}\n\nnot a note {number}\n".encode())
        assert _record_bytes(witness.state_dir) <= CAP

    kept = witness.refusals()
    assert 10 < len(kept) < 300  # rotated: the oldest are gone, many recent ones are kept
    assert kept[-1]["request"] == "old 299\n\nnot a note 299\n"  # the newest is there
    numbers = [int(r["request"].split()[1]) for r in kept]
    assert numbers == sorted(numbers) and numbers == list(range(numbers[0], 300))
    assert (witness.state_dir / "refusals.1.jsonl").exists()


def test_fork_evidence_survives_the_rotation_once_per_checkpoint(
    engine: Engine, tmp_path: Path
) -> None:
    ledger = make_ledger(engine)
    Witness.create(tmp_path / "witness", "witness.example/w1")
    witness = Witness(tmp_path / "witness", refusals_max_bytes=CAP)
    witness.trust(ledger.verifier_key())
    append_n(ledger, 8)
    held = ledger.checkpoint(new=True)
    witness.add_checkpoint(_request(0, held))
    fork = forked_ledger(tmp_path, 8).checkpoint(new=True)

    for _ in range(3):  # the same forked checkpoint, offered again and again
        _refuse(witness, _request(8, fork))
    for number in range(300):
        _refuse(witness, f"old {number}\n\nnot a note\n".encode())

    assert not any(r["offered"] == fork for r in witness.refusals())  # rotated away...
    evidence = witness.evidence()  # ...but kept here, once, with both checkpoints
    assert len(evidence) == 1
    assert evidence[0]["offered"] == fork and evidence[0]["last_cosigned"] == held
    assert evidence[0]["status"] == 409 and "forked" in evidence[0]["reason"]
    # The witness still holds the honest checkpoint and cosigns the next one.
    append_n(ledger, 2)
    witness.add_checkpoint(_request(8, ledger.checkpoint(new=True), ledger.consistency(8, 10)))
