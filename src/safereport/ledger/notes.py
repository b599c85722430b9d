"""C2SP signed notes (signed-note@v1), verifier keys (vkeys) and checkpoints (tlog-checkpoint).

A note is text (non-empty lines, each ending in a newline), a blank line, and signature lines
``— <key name> base64(4-byte key id || signature)``. Key ids commit to the key's name, its
signature type and its public key, so a verifier ignores lines from keys it does not know.
Only Ed25519 is used here: type 0x01 for the log's own signatures, 0x04 for witness
cosignatures (tlog-cosignature ``cosignature/v1``).

This module holds no private keys; signing lives in :mod:`safereport.ledger.keys`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from enum import IntEnum

from safereport.errors import LedgerError
from safereport.ledger.merkle import HASH_SIZE
from safereport.vault.recipes import verify_signature

__all__ = [
    "Checkpoint",
    "Note",
    "SignatureLine",
    "SignatureType",
    "Verifier",
    "b64decode",
    "format_checkpoint",
    "key_id",
    "parse_checkpoint",
    "parse_note",
    "parse_vkey",
]

_DASH = "\u2014"  # the em dash that starts every signature line
_NAME = re.compile(r"^[^\s+]+$")
_DECIMAL = re.compile(r"^(0|[1-9][0-9]*)$")


class SignatureType(IntEnum):
    ED25519 = 0x01
    COSIGNATURE_V1 = 0x04


def b64decode(text: str, what: str) -> bytes:
    """Strict standard base64, or a LedgerError naming ``what``."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise LedgerError(f"{what} is not valid base64") from exc


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise LedgerError(f"key name {name!r} must be non-empty, without spaces or '+'")
    return name


def key_id(name: str, kind: SignatureType, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public_key).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A public key that checks one kind of signature line for one key name."""

    name: str
    kind: SignatureType
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.kind, self.public_key)

    @property
    def vkey(self) -> str:
        material = b64encode(bytes([self.kind]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def verify(self, message: bytes, signature: bytes) -> None:
        if not verify_signature(self.public_key, message, signature):
            raise LedgerError(f"the signature of {self.name} does not verify")


def parse_vkey(vkey: str) -> Verifier:
    """``<name>+<8 hex digit key id>+<base64(type || public key)>``."""
    parts = vkey.strip().split("+", 2)  # base64 may hold "+"
    if len(parts) != 3:
        raise LedgerError("a verifier key has the form <name>+<key id>+<base64 key>")
    name, hex_id, material = parts
    check_name(name)
    raw = b64decode(material, "the verifier key")
    if len(raw) != 33 or raw[0] not in (SignatureType.ED25519, SignatureType.COSIGNATURE_V1):
        raise LedgerError("the verifier key is not an Ed25519 key")
    verifier = Verifier(name, SignatureType(raw[0]), raw[1:])
    if hex_id.lower() != verifier.key_id.hex() or len(hex_id) != 8:
        raise LedgerError("the verifier key's id does not match its name and key")
    return verifier


@dataclass(frozen=True)
class SignatureLine:
    name: str
    key_id: bytes
    signature: bytes

    def render(self) -> str:
        return f"{_DASH} {self.name} {b64encode(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A parsed signed note: the signed text (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[SignatureLine, ...]

    def render(self) -> str:
        return self.text + "\n" + "".join(line.render() for line in self.signatures)

    def signed_by(self, verifier: Verifier) -> SignatureLine:
        """The one line of ``verifier``'s key that verifies; LedgerError if none does."""
        matches = [
            line
            for line in self.signatures
            if line.name == verifier.name and line.key_id == verifier.key_id
        ]
        if len(matches) != 1:
            raise LedgerError(f"the note is not signed (once) by {verifier.name}")
        return matches[0]

    def verify(self, verifier: Verifier) -> None:
        if verifier.kind is not SignatureType.ED25519:
            raise LedgerError("a log signature must be an Ed25519 note signature")
        verifier.verify(self.text.encode(), self.signed_by(verifier).signature)

    def with_signature(self, line: SignatureLine) -> Note:
        return Note(self.text, (*self.signatures, line))


def parse_note(note: str) -> Note:
    """Split a signed note into its text and signature lines; LedgerError if malformed."""
    # Note text has no empty lines, so the first blank line ends it.
    text, sep, tail = note.partition("\n\n")
    if not sep or not text or text.startswith("\n"):
        raise LedgerError("a signed note has text, a blank line, then signature lines")
    text += "\n"
    if not tail.endswith("\n") or not tail.strip():
        raise LedgerError("a signed note ends with signature lines, each ending in a newline")
    lines = [_parse_signature_line(line) for line in tail[:-1].split("\n")]
    return Note(text, tuple(lines))


def _parse_signature_line(line: str) -> SignatureLine:
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != _DASH:
        raise LedgerError(f"not a note signature line: {line[:60]!r}")
    blob = b64decode(parts[2], "a note signature")
    if len(blob) < 5:
        raise LedgerError("a note signature is too short")
    return SignatureLine(check_name(parts[1]), blob[:4], blob[4:])


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint body: origin, tree size, root hash (and extension lines)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def format_checkpoint(checkpoint: Checkpoint) -> str:
    lines = [checkpoint.origin, str(checkpoint.size), b64encode(checkpoint.root)]
    return "\n".join([*lines, *checkpoint.extensions]) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint's note text (not its signatures)."""
    if not text.endswith("\n"):
        raise LedgerError("a checkpoint's text ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not lines[0] or any(not line for line in lines):
        raise LedgerError("a checkpoint has an origin, a tree size and a root hash")
    origin, size, root = lines[0], lines[1], lines[2]
    if not _DECIMAL.match(size):
        raise LedgerError(f"checkpoint tree size {size[:30]!r} is not a decimal number")
    digest = b64decode(root, "the checkpoint root hash")
    if len(digest) != HASH_SIZE:
        raise LedgerError("the checkpoint root hash is not 32 bytes")
    return Checkpoint(origin, int(size), digest, tuple(lines[3:]))
