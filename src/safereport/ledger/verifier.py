"""Offline checking of receipts: C2SP tlog-proof text, a log's verifier key and an entry.

Nothing here touches a database, so the victim's receipt page, the ``check-proof`` command
and any outside auditor run exactly this code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from safereport.errors import LedgerError
from safereport.ledger import merkle
from safereport.ledger.keys import verify_cosignature
from safereport.ledger.notes import (
    Checkpoint,
    Note,
    SignatureType,
    b64decode,
    b64encode,
    parse_checkpoint,
    parse_note,
    parse_vkey,
)

__all__ = [
    "PROOF_HEADER",
    "TlogProof",
    "TrustPolicy",
    "check_proof",
    "count_cosignatures",
    "format_proof",
    "parse_policy",
    "parse_proof",
]

PROOF_HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"^index (0|[1-9][0-9]*)$")


@dataclass(frozen=True)
class TlogProof:
    index: int
    hashes: tuple[bytes, ...]
    checkpoint_note: str
    extra: bytes | None = None


def format_proof(proof: TlogProof) -> str:
    lines = [PROOF_HEADER]
    if proof.extra is not None:
        lines.append(f"extra {b64encode(proof.extra)}")
    lines.append(f"index {proof.index}")
    lines.extend(b64encode(value) for value in proof.hashes)
    return "\n".join(lines) + "\n\n" + proof.checkpoint_note


def parse_proof(text: str) -> TlogProof:
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise LedgerError("a tlog-proof has its proof lines, a blank line, then a checkpoint")
    lines = head.split("\n")
    if lines[0] != PROOF_HEADER:
        raise LedgerError(f"a tlog-proof starts with the line {PROOF_HEADER}")
    position, extra = 1, None
    if len(lines) > 1 and lines[1].startswith("extra "):
        extra = b64decode(lines[1][len("extra ") :], "the proof's extra data")
        position = 2
    match = _INDEX.match(lines[position]) if len(lines) > position else None
    if match is None:
        raise LedgerError("a tlog-proof names its entry with a line 'index <N>'")
    hashes = tuple(b64decode(line, "a proof hash") for line in lines[position + 1 :])
    return TlogProof(int(match.group(1)), hashes, note, extra)


def check_proof(
    proof_text: str,
    vkey: str,
    leaf: bytes,
    *,
    witnesses: Sequence[str] = (),
    quorum: int = 0,
) -> Checkpoint:
    """Raise LedgerError unless ``leaf`` is in the log that ``vkey`` signs, as proved.

    Checks the checkpoint's signature by the log's key (whose name is the log's origin), then
    the inclusion of the leaf's RFC 6962 hash at the proof's index, then that at least
    ``quorum`` of the ``witnesses`` (cosignature/v1 vkeys) cosigned the checkpoint. A
    cosignature line of a given witness that does not verify is an error, not a miss: the
    note is malformed (C2SP signed-note). Returns the checkpoint.
    """
    proof = parse_proof(proof_text)
    verifier = parse_vkey(vkey)
    note = parse_note(proof.checkpoint_note)
    note.verify(verifier)
    checkpoint = parse_checkpoint(note.text)
    if checkpoint.origin != verifier.name:
        raise LedgerError(f"the checkpoint is for log {checkpoint.origin!r}, not {verifier.name!r}")
    merkle.verify_inclusion(
        proof.index, checkpoint.size, merkle.leaf_hash(leaf), proof.hashes, checkpoint.root
    )
    cosigned = count_cosignatures(note, witnesses)
    if quorum > len(witnesses):
        raise LedgerError(f"a quorum of {quorum} needs at least {quorum} witness keys")
    if cosigned < quorum:
        raise LedgerError(
            f"the checkpoint is cosigned by {cosigned} of the given witnesses; {quorum} required"
        )
    return checkpoint


def count_cosignatures(note: Note, witnesses: Sequence[str]) -> int:
    """How many of ``witnesses`` (vkeys) validly cosigned ``note``; LedgerError if one is forged."""
    count = 0
    for vkey in dict.fromkeys(witness.strip() for witness in witnesses):
        witness = parse_vkey(vkey)
        if witness.kind is not SignatureType.COSIGNATURE_V1:
            raise LedgerError(f"{witness.name}: a witness key is a cosignature/v1 key (0x04)")
        if any(
            line.key_id == witness.key_id and line.name == witness.name for line in note.signatures
        ):
            verify_cosignature(note, witness)
            count += 1
    return count


@dataclass(frozen=True)
class TrustPolicy:
    """Whom a verifier trusts: the log's key, witnesses' keys, how many must cosign.

    The text form (in the spirit of Sigsum's policy files), one rule per line, ``#`` comments::

        log <the log's vkey>
        witness <a witness's cosignature/v1 vkey> [its url, for information]
        quorum <N, or all>

    The standalone verifier (``web/static/verify_receipt.py``) reads the same file.
    """

    log: str
    witnesses: tuple[str, ...]
    quorum: int

    def render(self, urls: Sequence[str] = ()) -> str:
        lines = [f"log {self.log}"]
        for number, vkey in enumerate(self.witnesses):
            url = f" {urls[number]}" if number < len(urls) else ""
            lines.append(f"witness {vkey}{url}")
        lines.append(f"quorum {self.quorum}")
        return "\n".join(lines) + "\n"


def parse_policy(text: str) -> TrustPolicy:
    log: str | None = None
    witnesses: list[str] = []
    quorum: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "log" and len(words) == 2 and log is None:
            log = words[1]
        elif words[0] == "witness" and len(words) in (2, 3):
            witnesses.append(words[1])
        elif words[0] == "quorum" and len(words) == 2 and quorum is None:
            quorum = words[1]
        else:
            raise LedgerError(f"policy line {number} is not understood: {raw.strip()[:60]!r}")
    if log is None or parse_vkey(log).kind is not SignatureType.ED25519:
        raise LedgerError("the policy names no log key (a line 'log <vkey>')")
    for vkey in witnesses:
        if parse_vkey(vkey).kind is not SignatureType.COSIGNATURE_V1:
            raise LedgerError("a witness key in the policy is not a cosignature/v1 key")
    if quorum is None or quorum == "all":
        needed = len(witnesses)
    elif quorum.isdigit() and int(quorum) <= len(witnesses):
        needed = int(quorum)
    else:
        raise LedgerError(f"the quorum {quorum!r} is not a number of the policy's witnesses")
    return TrustPolicy(log, tuple(witnesses), needed)
