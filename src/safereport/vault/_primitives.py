"""The only module in safereport that imports cryptographic primitives.

Everything else is a recipe over these few functions (:mod:`safereport.vault.recipes` for the
rest of the code base), so that the choice of algorithm (AES-256-GCM with random 96-bit nonces,
HMAC-SHA256, X25519 with HKDF-SHA256, scrypt, Ed25519) is made in one place and every failure
to open collapses into the one opaque :class:`~safereport.errors.VaultError`.
tests/audit/test_crypto_in_the_vault.py fails if another module imports a primitive.

Random 96-bit nonces are safe here because no key seals anywhere near 2**32 messages: a data
key seals one case's fields and blobs, and a key-encryption key wraps at most one data key per
case (10**7 cases over ten years is well inside the bound).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from safereport.errors import VaultError

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "TAG_BYTES",
    "Aead",
    "AeadBatch",
    "Ed25519Key",
    "ed25519_verify",
    "hkdf_sha256",
    "keyed_digest",
    "mac",
    "random_bytes",
    "random_key",
    "scrypt_key",
    "x25519_key_pair",
    "x25519_shared",
]

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


def random_key() -> bytes:
    """A fresh 256-bit key from the operating system's CSPRNG."""
    return os.urandom(KEY_BYTES)


def random_bytes(size: int) -> bytes:
    """``size`` bytes from the operating system's CSPRNG (salts, nonce prefixes)."""
    return os.urandom(size)


class Aead:
    """AES-256-GCM under one key; output is ``nonce || ciphertext || tag``."""

    __slots__ = ("_aes",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise VaultError()
        self._aes = AESGCM(key)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aes.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        return self.open_after(b"", sealed, aad)

    def seal_after(self, header: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """``header || nonce || ciphertext || tag``; the header is authenticated only if the
        caller puts it in ``aad`` too."""
        nonce = os.urandom(NONCE_BYTES)
        return header + nonce + self._aes.encrypt(nonce, plaintext, aad)

    def seal_with_nonce(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """``ciphertext || tag`` under a nonce the caller guarantees unique for this key."""
        return self._aes.encrypt(nonce, plaintext, aad)

    def open_with_nonce(self, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        try:
            return self._aes.decrypt(nonce, sealed, aad)
        except (InvalidTag, ValueError, TypeError, OverflowError) as exc:
            raise VaultError() from exc

    def open_after(self, header: bytes, token: bytes, aad: bytes) -> bytes:
        """Open a token made by :meth:`seal_after` with this exact ``header``.

        Slices once (the ciphertext is copied once), since fields are opened in bulk.
        """
        start = len(header)
        if len(token) < start + NONCE_BYTES + TAG_BYTES or not token.startswith(header):
            raise VaultError()
        body = start + NONCE_BYTES
        try:
            return self._aes.decrypt(token[start:body], token[body:], aad)
        except (InvalidTag, ValueError, TypeError, OverflowError) as exc:
            raise VaultError() from exc


class AeadBatch:
    """Many tokens under one key in a tight loop: fields are sealed and opened a case at a time,
    and per-call overhead in Python would otherwise rival AES-GCM itself on short fields."""

    __slots__ = ("_aes", "_header")

    def __init__(self, key: bytes, header: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise VaultError()
        self._aes = AESGCM(key)
        self._header = header

    def seal(self, items: Iterable[tuple[bytes, bytes]]) -> list[bytes]:
        """``(aad, plaintext)`` pairs to ``header || nonce || ciphertext || tag`` tokens."""
        encrypt = self._aes.encrypt
        urandom = os.urandom
        header = self._header
        sealed = []
        for aad, plaintext in items:
            nonce = urandom(NONCE_BYTES)
            sealed.append(header + nonce + encrypt(nonce, plaintext, aad))
        return sealed

    def open(self, items: Iterable[tuple[bytes, bytes]]) -> list[bytes]:
        """``(aad, token)`` pairs to plaintexts; VaultError (and nothing else) if any fails."""
        decrypt = self._aes.decrypt
        header = self._header
        start = len(header)
        body = start + NONCE_BYTES
        opened = []
        try:
            # A token too short to hold nonce and tag fails in decrypt (InvalidTag/ValueError).
            for aad, token in items:
                if token[:start] != header:
                    raise VaultError()
                opened.append(decrypt(token[start:body], token[body:], aad))
        except (InvalidTag, ValueError, TypeError, OverflowError) as exc:
            raise VaultError() from exc
        return opened


def keyed_digest(key: bytes, message: bytes) -> str:
    """HMAC-SHA256 of ``message`` under ``key``, as lowercase hex."""
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def mac(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message`` under ``key`` (32 bytes)."""
    return hmac.new(key, message, hashlib.sha256).digest()


# --- key agreement and derivation --------------------------------------------------------


def x25519_key_pair() -> tuple[bytes, bytes]:
    """A fresh X25519 ``(private, public)`` pair, 32 raw bytes each."""
    private = X25519PrivateKey.generate()
    return (private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
            private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def x25519_shared(private: bytes, peer_public: bytes) -> tuple[bytes, bytes]:
    """``(shared secret, own public key)``; VaultError for a malformed key or a low-order point."""
    try:
        key = X25519PrivateKey.from_private_bytes(private)
        shared = key.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except (ValueError, TypeError) as exc:
        raise VaultError() from exc
    return shared, key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def hkdf_sha256(secret: bytes, salt: bytes, info: bytes) -> bytes:
    """A 256-bit key from ``secret`` by HKDF-SHA256 (RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info).derive(secret)


def scrypt_key(passphrase: bytes, salt: bytes, *, n: int, r: int, p: int) -> bytes:
    """A 256-bit key from a passphrase by scrypt (RFC 7914); VaultError for bad parameters."""
    try:
        return Scrypt(salt=salt, length=KEY_BYTES, n=n, r=r, p=p).derive(passphrase)
    except (ValueError, TypeError, MemoryError) as exc:
        raise VaultError() from exc


# --- signatures --------------------------------------------------------------------------


class Ed25519Key:
    """An Ed25519 private key (RFC 8032) from its 32-byte seed."""

    __slots__ = ("_key", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != KEY_BYTES:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def seed(self) -> bytes:
        return self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
