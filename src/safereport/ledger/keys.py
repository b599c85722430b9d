"""Ed25519 signing keys for notes (the log's checkpoints) and cosignatures (witnesses).

Private keys live in files of mode 0600 in the Go ``note`` private-key form,
``PRIVATE+KEY+<name>+<key id>+<base64(type || 32-byte seed)>``, so the same file works with
other C2SP tools. A file that others can read is refused: a leaked log key lets anyone sign a
forged history. The note formats are the ledger's; the Ed25519 key and the file are the vault's
(:class:`~safereport.vault.recipes.SigningKey`, :mod:`safereport.vault.keyfile`).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TypeVar

from safereport.errors import ConfigError, LedgerError
from safereport.ledger.notes import (
    Note,
    SignatureLine,
    SignatureType,
    Verifier,
    b64decode,
    b64encode,
    check_name,
)
from safereport.vault import keyfile
from safereport.vault.recipes import SigningKey

__all__ = [
    "CosignatureSigner",
    "NoteSigner",
    "cosignature_message",
    "read_key_file",
    "verify_cosignature",
    "write_key_file",
]

_PREFIX = "PRIVATE+KEY+"
S = TypeVar("S", bound="_Signer")


class _Signer:
    kind: SignatureType

    def __init__(self, name: str, seed: bytes) -> None:
        self.name = check_name(name)
        self._key = SigningKey(seed)
        self.verifier = Verifier(self.name, self.kind, self._key.public_key)

    @classmethod
    def generate(cls: type[S], name: str) -> S:
        return cls(name, SigningKey.generate().seed)

    @property
    def key_id(self) -> bytes:
        return self.verifier.key_id

    @property
    def vkey(self) -> str:
        return self.verifier.vkey

    def private_text(self) -> str:
        material = b64encode(bytes([self.kind]) + self._key.seed)
        return f"{_PREFIX}{self.name}+{self.key_id.hex()}+{material}\n"

    def _line(self, message: bytes, prefix: bytes = b"") -> SignatureLine:
        return SignatureLine(self.name, self.key_id, prefix + self._key.sign(message))


class NoteSigner(_Signer):
    """The log's key: signs checkpoints (and statistics releases) as C2SP signed notes."""

    kind = SignatureType.ED25519

    def sign_note(self, text: str) -> str:
        """``text`` (non-empty lines, ending in a newline) with this key's signature line.
        Other text is refused (LedgerError): it would not read back as the note signed. (Once
        checked by parsing the note it had just written, on every checkpoint: issue 13.)"""
        if not text or text[0] == "\n" or text[-1] != "\n" or "\n\n" in text:
            raise LedgerError("a note's text is non-empty lines, each ending in a newline")
        return text + "\n" + self._line(text.encode()).render()


def cosignature_message(text: str, timestamp: int) -> bytes:
    """tlog-cosignature ``cosignature/v1``: header, time line, then the checkpoint text."""
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


class CosignatureSigner(_Signer):
    """A witness's key: cosigns checkpoints it has checked (tlog-cosignature, Ed25519)."""

    kind = SignatureType.COSIGNATURE_V1

    def cosign(self, note: Note, timestamp: int) -> Note:
        if not 0 <= timestamp < 2**63:
            raise LedgerError("a cosignature timestamp must fit in 63 bits")
        message = cosignature_message(note.text, timestamp)
        return note.with_signature(self._line(message, struct.pack(">Q", timestamp)))


def verify_cosignature(note: Note, verifier: Verifier) -> int:
    """Check ``verifier``'s cosignature on ``note``; returns its timestamp."""
    line = note.signed_by(verifier)
    if len(line.signature) != 72:
        raise LedgerError(f"the cosignature of {verifier.name} has the wrong length")
    (timestamp,) = struct.unpack(">Q", line.signature[:8])
    verifier.verify(cosignature_message(note.text, timestamp), line.signature[8:])
    return int(timestamp)


def write_key_file(path: Path, signer: _Signer) -> None:
    """Create ``path`` with mode 0600; never overwrite an existing key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        keyfile.write_key_file(path, signer.private_text().encode("ascii"))
    except FileExistsError as exc:
        raise ConfigError(f"{path} exists already; a log key is never replaced") from exc


def read_key_file(path: Path, kind: type[S]) -> S:
    """Load a private key file, refusing one that others can read."""
    if not path.exists():
        raise ConfigError(f"no key file at {path} (run `safereport init`)")
    try:
        raw = keyfile.read_key_file(path, "the signing key").decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read the key file {path}") from exc
    parts = raw.removeprefix(_PREFIX).split("+", 2)
    if not raw.startswith(_PREFIX) or len(parts) != 3:
        raise ConfigError(f"{path} is not a note private key")
    try:
        material = b64decode(parts[2], "the private key")
    except LedgerError as exc:
        raise ConfigError(f"{path} is not a note private key") from exc
    if len(material) != 33 or material[0] != kind.kind:
        raise ConfigError(f"{path} holds the wrong kind of key")
    signer = kind(parts[0], material[1:])
    if signer.key_id.hex() != parts[1]:
        raise ConfigError(f"{path}: the key id does not match the key")
    return signer
