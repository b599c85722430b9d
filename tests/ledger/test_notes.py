"""Signed notes, verifier keys, key files, cosignatures and decision records."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.ledger_helpers import make_decision

from safereport.errors import ConfigError, LedgerError
from safereport.ledger.keys import (
    CosignatureSigner,
    NoteSigner,
    read_key_file,
    verify_cosignature,
    write_key_file,
)
from safereport.ledger.notes import (
    Checkpoint,
    format_checkpoint,
    parse_checkpoint,
    parse_note,
    parse_vkey,
)
from safereport.ledger.record import canonical_bytes, parse_leaf, record_from_decision

TEXT = "example.com/log\n5\n" + base64.b64encode(b"\x01" * 32).decode() + "\n"


@settings(max_examples=60)
@given(st.binary(min_size=32, max_size=32))
def test_vkey_round_trips_for_any_key(seed: bytes) -> None:
    """Base64 key material often holds '+', the vkey field separator."""
    signer = NoteSigner("example.com/log", seed)
    verifier = parse_vkey(signer.vkey)
    assert verifier == signer.verifier
    name, key_id, material = signer.vkey.split("+", 2)
    public = base64.b64decode(material)
    assert public[0] == 0x01 and len(public) == 33
    expected = hashlib.sha256(b"example.com/log\n" + public).digest()[:4]
    assert key_id == expected.hex() and name == "example.com/log"


@pytest.mark.parametrize(
    "text", ["", "no newline", "\nleading blank\n", "a\n\nblank line inside\n", "a\n\n"]
)
def test_text_that_would_not_read_back_is_not_signed(text: str) -> None:
    # A blank line ends a note's text: such text would read back as another note, or none.
    with pytest.raises(LedgerError, match="non-empty lines"):
        NoteSigner("example.com/log", b"\x05" * 32).sign_note(text)


def test_a_signed_note_reads_back_as_itself() -> None:
    signer = NoteSigner("example.com/log", b"\x05" * 32)
    for text in (TEXT, "one line\n", "example.com/log\n0\n" + "A" * 43 + "=\nextension\n"):
        note = signer.sign_note(text)
        assert parse_note(note).render() == note and parse_note(note).text == text
        parse_note(note).verify(signer.verifier)


def test_signed_note_shape_and_verification() -> None:
    signer = NoteSigner("example.com/log", b"\x05" * 32)
    note = signer.sign_note(TEXT)
    assert note.startswith(TEXT + "\n\u2014 example.com/log ")
    assert note.endswith("\n") and note.count("\n") == 5
    parsed = parse_note(note)
    parsed.verify(signer.verifier)
    blob = base64.b64decode(note.rsplit(" ", 1)[1])
    assert blob[:4] == signer.key_id and len(blob) == 68
    with pytest.raises(LedgerError):
        parse_note(note.replace("\n5\n", "\n6\n")).verify(signer.verifier)
    other = NoteSigner("example.com/log", b"\x06" * 32)
    with pytest.raises(LedgerError):
        parsed.verify(other.verifier)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "no blank line\n",
        "text\n\n",
        "text\n\nnot a signature\n",
        "\ntext\n\n— a AAAA\n",
        "text\n\n— a !!!!\n",
        "text\n\n— a AAAAAAAA",
    ],
)
def test_malformed_notes_are_refused(bad: str) -> None:
    with pytest.raises(LedgerError):
        parse_note(bad)


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "a+b",
        "a+00000000+AAAA",
        "has space+00000000+" + "A" * 44,
        "example.com/log+00000000+" + base64.b64encode(b"\x01" + b"\x00" * 32).decode(),
    ],
)
def test_bad_vkeys_are_refused(vkey: str) -> None:
    with pytest.raises(LedgerError):
        parse_vkey(vkey)


def test_checkpoint_format() -> None:
    checkpoint = Checkpoint("example.com/log", 5, b"\x01" * 32)
    assert format_checkpoint(checkpoint) == TEXT
    assert parse_checkpoint(TEXT) == checkpoint
    for bad in (
        TEXT.replace("\n5\n", "\n05\n"),
        TEXT.replace("\n5\n", "\n-1\n"),
        TEXT[:-1],
        "example.com/log\n5\nAAAA\n",
        "\n5\n" + TEXT.split("\n")[2] + "\n",
    ):
        with pytest.raises(LedgerError):
            parse_checkpoint(bad)


def test_cosignature_message_and_timestamp() -> None:
    log = NoteSigner("example.com/log", b"\x05" * 32)
    witness = CosignatureSigner("witness.example/w", b"\x09" * 32)
    note = parse_note(log.sign_note(TEXT))
    cosigned = witness.cosign(note, 1_679_315_147)
    assert verify_cosignature(cosigned, witness.verifier) == 1_679_315_147
    line = cosigned.signatures[-1]
    assert (
        line.key_id
        == hashlib.sha256(b"witness.example/w\n\x04" + witness.verifier.public_key).digest()[:4]
    )
    message = b"cosignature/v1\ntime 1679315147\n" + TEXT.encode()
    witness.verifier.verify(message, line.signature[8:])
    assert parse_vkey(witness.vkey).kind == 0x04


def test_key_files(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "log.key"
    signer = NoteSigner.generate("example.com/log")
    write_key_file(path, signer)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().startswith("PRIVATE+KEY+example.com/log+")
    assert read_key_file(path, NoteSigner).vkey == signer.vkey
    with pytest.raises(ConfigError, match="never replaced"):
        write_key_file(path, signer)
    with pytest.raises(ConfigError, match="wrong kind"):
        read_key_file(path, CosignatureSigner)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        read_key_file(path, NoteSigner)
    with pytest.raises(ConfigError, match="no key file"):
        read_key_file(tmp_path / "absent.key", NoteSigner)


def test_leaf_is_canonical_salted_and_complete() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=timezone(timedelta(hours=2)))
    record = record_from_decision(
        make_decision(),
        actor_id="u-1",
        case_id="c-1",
        actor_org_kind="support_service",
        detail={"b": "2", "a": "1"},
        now=moment,
    )
    leaf = record.leaf()
    value = parse_leaf(leaf)
    assert canonical_bytes(value) == leaf and b" " not in leaf
    assert value["time"] == "2026-01-02T01:04:05.000600Z" and record.month == "2026-01"
    assert set(value) == {
        "v",
        "time",
        "actor",
        "holder",
        "action",
        "purpose",
        "recipient",
        "case",
        "data",
        "decision",
        "obligations",
        "rules",
        "regime",
        "policy_hash",
        "salt",
        "detail",
    }
    again = record_from_decision(
        make_decision(),
        actor_id="u-1",
        case_id="c-1",
        actor_org_kind="support_service",
        detail={"b": "2", "a": "1"},
        now=moment,
    )
    assert again.leaf() != leaf  # a fresh salt every time
    with pytest.raises(LedgerError):
        parse_leaf(leaf.replace(b'{"action"', b'{ "action"'))
    with pytest.raises(LedgerError):
        record_from_decision(
            make_decision(),
            actor_id="u",
            case_id=None,
            actor_org_kind=None,
            detail=None,
            now=datetime(2026, 1, 1),
        )


def test_malformed_requests_are_recorded_as_invalid() -> None:
    from safereport.domain.vocabulary import DataCategory, Effect
    from safereport.policy.decision import _mint_decision

    decision = _mint_decision(
        effect=Effect.DENY,
        obligations=frozenset(),
        rules=("C-default",),
        reasons=("bad",),
        regime="firewall",
        policy_hash="0" * 64,
        categories=frozenset({DataCategory.HEALTH}),
        request={"actor": "nobody", "action": 3, "purpose": "x" * 40},
    )
    value = parse_leaf(
        record_from_decision(
            decision,
            actor_id="u",
            case_id=None,
            actor_org_kind=None,
            detail=None,
            now=datetime.now(UTC),
        ).leaf()
    )
    assert value["actor"]["role"] == "invalid" and value["action"] == "invalid"
    assert value["purpose"] == "invalid" and value["holder"] == "invalid"
    assert value["decision"] == "deny"
