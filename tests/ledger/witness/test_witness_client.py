"""The log asks its witnesses over real HTTP, keeps their cosignatures, and its receipts carry them.

Two witnesses served by uvicorn on 127.0.0.1; the log's client sends add-checkpoint after
each checkpoint it signs; a forked log is refused and the incident kept; a witness that is
down never blocks the log; a cosigned receipt verifies offline under a 2-of-2 quorum and a
forged cosignature makes it fail.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.support.ledger_helpers import ORIGIN, append_n, make_ledger
from tests.support.witness import forked_ledger, free_port, serve_in_thread

from safereport.errors import ConfigError, LedgerError
from safereport.ledger.log import Ledger
from safereport.ledger.notes import parse_checkpoint, parse_note
from safereport.ledger.verifier import check_proof, parse_proof
from safereport.ledger.witness import Witness
from safereport.ledger.witness_client import (
    Outcome,
    WitnessClient,
    attach_witnesses,
    cosigned_proof,
    parse_witnesses,
)
from safereport.store.witnesses import (
    cosignatures_for,
    ledger_cosignatures,
    ledger_witness_status,
    statuses,
)
from safereport.web.witness import create_witness_app


@pytest.fixture
def ledger(engine: Engine) -> Ledger:
    return make_ledger(engine)


@pytest.fixture
def witnesses(tmp_path: Path, ledger: Ledger) -> Iterator[list[tuple[Witness, str]]]:
    """Two witnesses, each behind its own HTTP server: (witness, '<url> <vkey>')."""
    with ExitStack() as stack:
        found = []
        for number in (1, 2):
            witness = Witness.create(tmp_path / f"w{number}", f"witness.example/w{number}")
            witness.trust(ledger.verifier_key())
            url = stack.enter_context(serve_in_thread(create_witness_app(witness)))
            found.append((witness, f"{url} {witness.vkey}"))
        yield found


def setting(witnesses: list[tuple[Witness, str]]) -> str:
    return "\n".join(line for _, line in witnesses)


def keys(witnesses: list[tuple[Witness, str]]) -> list[str]:
    return [witness.vkey for witness, _ in witnesses]


def test_the_log_collects_cosignatures_and_the_receipt_verifies_2_of_2(
    ledger: Ledger, witnesses: list[tuple[Witness, str]]
) -> None:
    client = WitnessClient(ledger, parse_witnesses(setting(witnesses)))
    append_n(ledger, 10)
    results = client.sync(ledger.checkpoint(new=True))
    assert [r.outcome for r in results] == [Outcome.COSIGNED, Outcome.COSIGNED]
    append_n(ledger, 7)  # the next round sends a consistency proof from 10 to 17
    assert {r.outcome for r in client.sync(ledger.checkpoint(new=True))} == {Outcome.COSIGNED}
    with ledger.engine.connect() as conn:
        assert len(cosignatures_for(conn, 17)) == 2
        assert {s.size for s in statuses(conn)} == {17}
    for witness, _ in witnesses:
        assert parse_checkpoint(parse_note(witness.last(ORIGIN) or "").text).size == 17

    receipt = cosigned_proof(ledger, 3)
    leaf = ledger.entry(3)
    checked = check_proof(receipt, ledger.verifier_key(), leaf, witnesses=keys(witnesses), quorum=2)
    assert checked.size == 17
    # Asking again for the same checkpoint sends nothing new.
    assert {(r.outcome, r.detail) for r in client.sync()} == {(Outcome.COSIGNED, "already held")}
    assert all(len(w.refusals()) == 0 for w, _ in witnesses)


def test_a_forged_or_missing_cosignature_fails_offline(
    ledger: Ledger, witnesses: list[tuple[Witness, str]]
) -> None:
    WitnessClient(ledger, parse_witnesses(setting(witnesses[:1]))).sync(
        (append_n(ledger, 5), ledger.checkpoint(new=True))[1]
    )
    receipt, leaf = cosigned_proof(ledger, 2), ledger.entry(2)
    vkey, both = ledger.verifier_key(), keys(witnesses)
    check_proof(receipt, vkey, leaf, witnesses=both, quorum=1)
    with pytest.raises(LedgerError, match="cosigned by 1 of the given witnesses; 2 required"):
        check_proof(receipt, vkey, leaf, witnesses=both, quorum=2)
    # Flip one bit of the witness's signature: the receipt no longer verifies at all.
    name = witnesses[0][0].signer.name
    lines = receipt.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith(f"\u2014 {name} "))
    prefix, blob = lines[at].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    lines[at] = f"{prefix} {base64.b64encode(bytes(raw)).decode()}"
    forged = "\n".join(lines)
    check_proof(forged, vkey, leaf)  # the log's own signature is untouched
    with pytest.raises(LedgerError, match="does not verify"):
        check_proof(forged, vkey, leaf, witnesses=both, quorum=1)
    # The log's key is not a witness key.
    with pytest.raises(LedgerError, match="cosignature/v1"):
        check_proof(receipt, vkey, leaf, witnesses=[vkey], quorum=1)


def test_a_witness_that_knows_more_gets_a_proof_from_its_size(
    ledger: Ledger, witnesses: list[tuple[Witness, str]]
) -> None:
    witness, _ = witnesses[0]
    append_n(ledger, 6)
    witness.cosign(ledger.checkpoint(new=True))  # cosigned out of band: the client never knew
    append_n(ledger, 6)
    client = WitnessClient(ledger, parse_witnesses(setting(witnesses[:1])))
    [result] = client.sync(ledger.checkpoint(new=True))
    assert result.outcome is Outcome.COSIGNED and result.size == 12
    assert [r["status"] for r in witness.refusals()] == [409]  # old 0, answered with 6


def test_a_forked_log_is_refused_by_both_and_is_an_incident(
    ledger: Ledger,
    witnesses: list[tuple[Witness, str]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    append_n(ledger, 8)
    honest = WitnessClient(ledger, parse_witnesses(setting(witnesses)))
    honest.sync(ledger.checkpoint(new=True))
    # The operator rewrites history and re-signs it with the same key: same size, then longer.
    fork = forked_ledger(tmp_path, 8)
    # Its tables even hold the honest log's cosignatures and statuses (a copied database):
    # a kept cosignature of another checkpoint of the same size must not stand for this one.
    with ledger.engine.connect() as source, fork.engine.begin() as target:
        for table in (ledger_cosignatures, ledger_witness_status):
            rows = [dict(row._mapping) for row in source.execute(table.select())]
            target.execute(table.insert(), rows)
    forked = WitnessClient(fork, parse_witnesses(setting(witnesses)))
    results = forked.sync(fork.checkpoint(new=True))
    assert [r.outcome for r in results] == [Outcome.INCIDENT, Outcome.INCIDENT]
    assert "another checkpoint of size 8" in results[0].detail
    append_n(fork, 4, case_id="another-history")
    results = forked.sync(fork.checkpoint(new=True))
    assert [r.outcome for r in results] == [Outcome.INCIDENT, Outcome.INCIDENT]
    assert "not a prefix" in results[0].detail
    assert "WITNESS INCIDENT" in caplog.text
    with fork.engine.connect() as conn:
        assert all(s.incident and s.incident_at for s in statuses(conn))
        assert cosignatures_for(conn, 12) == []
    for witness, _ in witnesses:
        assert witness.last(ORIGIN) == ledger.checkpoint()  # the honest size-8 checkpoint
        assert [r["status"] for r in witness.refusals()][-2:] == [409, 422]


def test_a_witness_that_is_down_never_blocks_the_log(ledger: Ledger, tmp_path: Path) -> None:
    key = Witness.create(tmp_path / "dead", "witness.example/dead").vkey
    dead = f"http://127.0.0.1:{free_port()} {key}"
    client = attach_witnesses(ledger, dead)
    assert client is not None
    append_n(ledger, 3)
    note = ledger.checkpoint(new=True)  # the hook queues the round; signing returns at once
    assert parse_checkpoint(parse_note(note).text).size == 3
    [result] = client.sync(note)
    assert result.outcome is Outcome.FAILED and "cannot reach" in result.detail
    with ledger.engine.connect() as conn:
        [status] = statuses(conn)
    assert status.error and status.size is None and status.incident is None


def test_each_signed_checkpoint_is_offered_in_the_background(
    ledger: Ledger, witnesses: list[tuple[Witness, str]]
) -> None:
    attach_witnesses(ledger, setting(witnesses))
    append_n(ledger, 9)
    ledger.checkpoint(new=True)
    deadline = time.monotonic() + 60  # a wait for the background round, not a speed check
    while True:
        with ledger.engine.connect() as conn:
            if len(cosignatures_for(conn, 9)) == 2:
                break
        assert time.monotonic() < deadline, "the witnesses were never asked"
        time.sleep(0.05)


def test_the_setting_is_checked(ledger: Ledger) -> None:
    assert parse_witnesses("") == ()
    with pytest.raises(ConfigError, match="url"):
        parse_witnesses("witness.example/w1+abcd1234+AAAA")
    with pytest.raises(ConfigError, match="verifier key has the form"):
        parse_witnesses("http://127.0.0.1:1 not-a-key")
    with pytest.raises(ConfigError, match="cosignature/v1"):
        parse_witnesses(f"http://127.0.0.1:1 {ledger.verifier_key()}")  # the log's own key
    two = parse_witnesses(
        "# ours\nhttp://a.example/ KEY1; https://b.example KEY2".replace(
            "KEY1", "witness.example/a+" + _vkey_tail("witness.example/a")
        ).replace("KEY2", "witness.example/b+" + _vkey_tail("witness.example/b"))
    )
    assert [w.url for w in two] == ["http://a.example", "https://b.example"]


def _vkey_tail(name: str) -> str:
    from safereport.ledger.keys import CosignatureSigner

    return CosignatureSigner(name, b"\x01" * 32).vkey.split("+", 1)[1]


def test_the_receipt_falls_back_to_the_log_signature_alone(ledger: Ledger) -> None:
    append_n(ledger, 4)
    receipt = cosigned_proof(ledger, 1)
    assert parse_proof(receipt).index == 1
    check_proof(receipt, ledger.verifier_key(), ledger.entry(1))
