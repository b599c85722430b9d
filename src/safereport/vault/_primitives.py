"""The only module in the vault that touches cryptographic primitives.

Everything else in :mod:`safereport.vault` is a recipe over these few functions, so that the
choice of algorithm (AES-256-GCM with random 96-bit nonces, HMAC-SHA256) is made in one place
and every failure to open collapses into the one opaque :class:`~safereport.errors.VaultError`.

Random 96-bit nonces are safe here because no key seals anywhere near 2**32 messages: a data
key seals one case's fields and blobs, and a key-encryption key wraps at most one data key per
case (10**7 cases over ten years is well inside the bound).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from safereport.errors import VaultError

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "TAG_BYTES",
    "Aead",
    "AeadBatch",
    "keyed_digest",
    "random_key",
]

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


def random_key() -> bytes:
    """A fresh 256-bit key from the operating system's CSPRNG."""
    return os.urandom(KEY_BYTES)


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
