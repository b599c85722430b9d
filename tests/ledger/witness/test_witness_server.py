"""`safereport witness serve`: C2SP tlog-witness add-checkpoint over real HTTP on 127.0.0.1.

Every status the spec prescribes, the state untouched and the refusal recorded after each bad
request, and the state surviving a killed and restarted witness process.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.support.ledger_helpers import ORIGIN, append_n, make_ledger
from tests.support.witness import forked_ledger, free_port, post, serve_in_thread, witness_process

from safereport.ledger.keys import NoteSigner, verify_cosignature
from safereport.ledger.log import Ledger
from safereport.ledger.notes import parse_note
from safereport.ledger.witness import MAX_PROOF_LINES, Witness
from safereport.web.witness import MAX_BODY, create_witness_app

WITNESS = "witness.example/w1"


def body(old: int, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


@pytest.fixture
def ledger(engine: Engine) -> Ledger:
    return make_ledger(engine)


@pytest.fixture
def witness(tmp_path: Path, ledger: Ledger) -> Witness:
    made = Witness.create(tmp_path / "witness", WITNESS)
    made.trust(ledger.verifier_key())
    return made


@pytest.fixture
def url(witness: Witness) -> Iterator[str]:
    with serve_in_thread(create_witness_app(witness)) as base:
        yield base + "/add-checkpoint"


def test_cosigns_then_answers_409_with_its_size(ledger: Ledger, witness: Witness, url: str) -> None:
    append_n(ledger, 5)
    first = ledger.checkpoint(new=True)
    status, kind, answer = post(url, body(0, [], first))
    assert status == 200 and kind.startswith("text/plain")
    cosigned = parse_note(first + answer.decode())
    assert verify_cosignature(cosigned, witness.signer.verifier) > 0  # timestamp, never zero
    assert witness.last(ORIGIN) == first

    append_n(ledger, 3)
    second = ledger.checkpoint(new=True)
    status, kind, answer = post(url, body(0, [], second))  # a client that does not know
    assert (status, kind, answer) == (409, "text/x.tlog.size", b"5\n")
    status, _, answer = post(url, body(5, ledger.consistency(5, 8), second))
    assert status == 200
    verify_cosignature(parse_note(second + answer.decode()), witness.signer.verifier)
    assert witness.last(ORIGIN) == second
    assert [r["status"] for r in witness.refusals()] == [409]


def _bad_requests(ledger: Ledger, tmp_path: Path) -> list[tuple[str, bytes, int]]:
    """(what, body, status) for every refusal the spec names; the witness holds size 8."""
    append_n(ledger, 4)
    note12 = ledger.checkpoint(new=True)
    good_proof = ledger.consistency(8, 12)
    stranger = NoteSigner("safereport.local/stranger", b"\x09" * 32)
    impostor = NoteSigner(ORIGIN, b"\x0a" * 32)  # our origin, another key
    text12 = parse_note(note12).text
    line = note12.rstrip("\n").rsplit(" ", 1)
    raw = base64.b64decode(line[1])
    broken = line[0] + " " + base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode() + "\n"
    fork = forked_ledger(tmp_path, 8).checkpoint(new=True)
    return [
        ("not a note", b"old 8\n\nhello\n", 400),
        ("no old line", ("\n" + note12).encode(), 400),
        ("old with a leading zero", body(8, [], note12).replace(b"old 8", b"old 08"), 400),
        ("not base64 proof", b"old 8\n!!!\n\n" + note12.encode(), 400),
        ("not UTF-8", b"old 8\n\n\xff\xfe\n", 400),
        (f"{MAX_PROOF_LINES + 1} proof lines", body(8, [b"\x00" * 32] * 64, note12), 400),
        ("old larger than the checkpoint", body(13, [], note12), 400),
        (
            "unknown origin",
            body(0, [], stranger.sign_note(text12.replace(ORIGIN, stranger.name))),
            404,
        ),
        ("signed by another key", body(8, good_proof, impostor.sign_note(text12)), 403),
        ("a signature that fails", body(8, good_proof, broken), 403),
        ("stale old size", body(5, ledger.consistency(5, 12), note12), 409),
        ("forked: same size, other root", body(8, [], fork), 409),
        ("bad proof", body(8, [bytes(32)] * len(good_proof), note12), 422),
        ("a proof from size 0", body(0, good_proof, note12), 409),
        ("oversized", b"old 8\n" + b"A" * (MAX_BODY + 10), 413),
    ]


def test_every_refusal_has_its_status_and_is_recorded(
    ledger: Ledger, witness: Witness, url: str, tmp_path: Path
) -> None:
    append_n(ledger, 8)
    held = ledger.checkpoint(new=True)
    assert post(url, body(0, [], held))[0] == 200
    cases = _bad_requests(ledger, tmp_path)
    for number, (what, request, expected) in enumerate(cases, start=1):
        status, kind, answer = post(url, request)
        assert status == expected, (what, answer)
        assert witness.last(ORIGIN) == held, what  # state unchanged
        refusals = witness.refusals()
        assert len(refusals) == number and refusals[-1]["status"] == expected, what
        if what == "stale old size":
            assert (kind, answer) == ("text/x.tlog.size", b"8\n")
        if what.startswith("forked"):
            assert kind.startswith("text/plain")  # not a size to retry from: an incident
            assert refusals[-1]["last_cosigned"] == held and "forked" in refusals[-1]["reason"]
    # The honest next checkpoint is still cosigned.
    assert post(url, body(8, ledger.consistency(8, 12), ledger.checkpoint()))[0] == 200


def test_a_proof_from_zero_must_be_empty(ledger: Ledger, witness: Witness, url: str) -> None:
    append_n(ledger, 6)
    note = ledger.checkpoint(new=True)
    status, _, _ = post(url, body(0, [bytes(32)], note))
    assert status == 422 and witness.last(ORIGIN) is None


def test_other_methods_are_not_a_server_error(url: str) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=30)
    assert caught.value.code == 405


def test_a_killed_witness_restarts_with_its_state(ledger: Ledger, tmp_path: Path) -> None:
    state = tmp_path / "partner"
    Witness.create(state, WITNESS).trust(ledger.verifier_key())
    append_n(ledger, 7)
    note = ledger.checkpoint(new=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/add-checkpoint"
    with witness_process(state, port) as process:
        assert post(url, body(0, [], note))[0] == 200
        process.kill()  # no clean shutdown: what it answered must already be on disk
    with witness_process(state, port):
        assert post(url, body(0, [], note)) == (409, "text/x.tlog.size", b"7\n")
        assert post(url, body(7, [], note))[0] == 200
    refusals = [json.loads(x) for x in (state / "refusals.jsonl").read_text().splitlines()]
    assert [r["status"] for r in refusals] == [409]
