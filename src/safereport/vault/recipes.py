"""Crypto recipes for the rest of safereport: the only door to the vault's primitives.

Services, the web layer and the ledger never pick an algorithm, a nonce or a key size; they
call one of these, and every failure to open is the one opaque
:class:`~safereport.errors.VaultError`.

    instance_key         a 0600 key file's 32 bytes, made on first need (the web key)
    SecretBox            a 0600 key file's key: seal_secret / open_secret (staff TOTP secrets)
    seal_to_recipient    sealing to a public key (X25519, HKDF-SHA256, AES-256-GCM), with
    open_as_recipient    new_recipient_key; disclosure packages to their organisation
    StreamSealer         a numbered chunk stream under one key (STREAM; backup archives)
    StreamOpener
    seal_under_passphrase / open_under_passphrase   scrypt, then AES-256-GCM (keys backups)
    SigningKey, verify_signature                     Ed25519 (the log's notes, witnesses)
    keyed_digest, mac, new_key, new_salt     HMAC-SHA256 (hex, raw), fresh keys and salts

Every format is unchanged from before the recipes: the same bytes open as before (tests in
tests/vault/test_recipes.py open data sealed by the code these recipes replaced).
"""

from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass
from pathlib import Path

from safereport.errors import ConfigError, VaultError
from safereport.vault import _primitives as prim
from safereport.vault.keyfile import make_key_folder, read_key_file, write_key_file

__all__ = [
    "KEY_BYTES",
    "STREAM_TAG_BYTES",
    "RecipientSealed",
    "SecretBox",
    "SigningKey",
    "StreamOpener",
    "StreamSealer",
    "instance_key",
    "keyed_digest",
    "mac",
    "new_key",
    "new_recipient_key",
    "new_salt",
    "open_as_recipient",
    "open_under_passphrase",
    "seal_to_recipient",
    "seal_under_passphrase",
    "verify_signature",
]

KEY_BYTES = prim.KEY_BYTES
STREAM_TAG_BYTES = prim.TAG_BYTES
keyed_digest = prim.keyed_digest
mac = prim.mac


def new_key() -> bytes:
    """A fresh 256-bit symmetric key."""
    return prim.random_key()


def new_salt(size: int = 16) -> bytes:
    return prim.random_bytes(size)


# --- small secrets under an instance key ----------------------------------------------------


def instance_key(path: Path, what: str = "the key file") -> bytes:
    """The 32-byte key in ``path``, made first (0600) if missing; ConfigError if others can
    read it or it is not a key."""
    if not path.exists():
        make_key_folder(path.parent)
        # Another worker may make it meanwhile: then its key, whole (it is linked in).
        with contextlib.suppress(FileExistsError):
            write_key_file(path, new_key())
    key = read_key_file(path, what)
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{what} {path} is damaged (it must hold {KEY_BYTES} bytes)")
    return key


class SecretBox:
    """AES-256-GCM under one 32-byte key, for small secrets kept in the database.

    The associated data is ``safereport/<purpose>/<context>``: a sealed secret moved to another
    purpose or another owner (another row) does not open. Output is ``nonce || ciphertext ||
    tag``.
    """

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ConfigError(f"a secret key must be {KEY_BYTES} bytes")
        self._aead = prim.Aead(key)

    @classmethod
    def from_key_file(cls, path: Path, what: str = "the key file") -> SecretBox:
        """The key in ``path``, made first (0600) if missing; ConfigError if others can read
        it or it is not a key."""
        return cls(instance_key(path, what))

    def seal_secret(self, purpose: str, plaintext: bytes, context: str) -> bytes:
        return self._aead.seal(plaintext, _secret_aad(purpose, context))

    def open_secret(self, purpose: str, sealed: bytes, context: str) -> bytes:
        """The plaintext; VaultError if it does not open (tampered, moved, wrong key)."""
        return self._aead.open(sealed, _secret_aad(purpose, context))


def _secret_aad(purpose: str, context: str) -> bytes:
    return f"safereport/{purpose}/{context}".encode()


# --- sealing to a public key ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecipientSealed:
    ephemeral_public: bytes
    nonce: bytes
    ciphertext: bytes


def new_recipient_key() -> tuple[bytes, bytes]:
    """A fresh ``(private, public)`` key pair to seal to (raw X25519, 32 bytes each)."""
    return prim.x25519_key_pair()


def seal_to_recipient(recipient_public: bytes, data: bytes, associated: bytes,
                      info: bytes) -> RecipientSealed:
    """ECIES-style: an ephemeral X25519 agreement, HKDF-SHA256 (salt: both public keys, then
    ``info``), AES-256-GCM with ``associated`` data."""
    ephemeral_private, ephemeral_public = prim.x25519_key_pair()
    shared, _ = prim.x25519_shared(ephemeral_private, recipient_public)
    key = prim.hkdf_sha256(shared, ephemeral_public + recipient_public, info)
    nonce = prim.random_bytes(prim.NONCE_BYTES)
    return RecipientSealed(ephemeral_public, nonce,
                           prim.Aead(key).seal_with_nonce(nonce, data, associated))


def open_as_recipient(private: bytes, sealed: RecipientSealed, associated: bytes,
                      info: bytes) -> bytes:
    """Open what :func:`seal_to_recipient` sealed to ``private``'s public key; VaultError."""
    shared, own_public = prim.x25519_shared(private, sealed.ephemeral_public)
    key = prim.hkdf_sha256(shared, sealed.ephemeral_public + own_public, info)
    return prim.Aead(key).open_with_nonce(sealed.nonce, sealed.ciphertext, associated)


# --- a stream of chunks ---------------------------------------------------------------------

#: A stream's nonce: 7 random bytes per stream, the chunk's number (32 bits), and whether it is
#: the last chunk (one byte), so chunks cannot be dropped, reordered, repeated or appended.
STREAM_PREFIX_BYTES = 7


def _stream_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


class StreamSealer:
    """Seal chunk after chunk under one key (the STREAM construction); ``header`` is
    authenticated with every chunk."""

    __slots__ = ("_aead", "_header", "_index", "prefix")

    def __init__(self, key: bytes, header: bytes) -> None:
        self._aead, self._header = prim.Aead(key), header
        self.prefix = prim.random_bytes(STREAM_PREFIX_BYTES)
        self._index = 0

    def seal(self, chunk: bytes, *, last: bool) -> bytes:
        nonce = _stream_nonce(self.prefix, self._index, last)
        self._index += 1
        return self._aead.seal_with_nonce(nonce, chunk, self._header)


class StreamOpener:
    """Open the chunks of a :class:`StreamSealer`, in order; VaultError for any that fails."""

    __slots__ = ("_aead", "_header", "_prefix")

    def __init__(self, key: bytes, header: bytes, prefix: bytes) -> None:
        if len(prefix) != STREAM_PREFIX_BYTES:
            raise VaultError()
        self._aead, self._header, self._prefix = prim.Aead(key), header, prefix

    def open(self, index: int, sealed: bytes, *, last: bool) -> bytes:
        nonce = _stream_nonce(self._prefix, index, last)
        return self._aead.open_with_nonce(nonce, sealed, self._header)


# --- a passphrase -------------------------------------------------------------------------


def seal_under_passphrase(passphrase: str, salt: bytes, plaintext: bytes, associated: bytes,
                          *, n: int, r: int, p: int) -> bytes:
    """scrypt(passphrase, salt), then AES-256-GCM: ``nonce || ciphertext || tag``."""
    key = prim.scrypt_key(passphrase.encode("utf-8"), salt, n=n, r=r, p=p)
    return prim.Aead(key).seal(plaintext, associated)


def open_under_passphrase(passphrase: str, salt: bytes, sealed: bytes, associated: bytes,
                          *, n: int, r: int, p: int) -> bytes:
    """The plaintext; VaultError for a wrong passphrase or damaged data."""
    key = prim.scrypt_key(passphrase.encode("utf-8"), salt, n=n, r=r, p=p)
    return prim.Aead(key).open(sealed, associated)


# --- signatures ---------------------------------------------------------------------------


class SigningKey:
    """An Ed25519 signing key (RFC 8032) from its 32-byte seed."""

    __slots__ = ("_key",)

    def __init__(self, seed: bytes) -> None:
        self._key = prim.Ed25519Key(seed)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(prim.random_key())

    @property
    def public_key(self) -> bytes:
        return self._key.public_key

    @property
    def seed(self) -> bytes:
        return self._key.seed

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    return prim.ed25519_verify(public_key, message, signature)
