"""A recipe for short-lived server state that several worker processes share.

The victim's return session (which case it opens, the codename card shown once, a notice or
what she typed before an error) lives in the database so that every worker sees it; what it
holds is sealed under a key derived from the instance's index key, with the row's key as
associated data, so the database never holds her codename or her words in clear.
"""

from __future__ import annotations

from safereport.vault._primitives import Aead, keyed_digest
from safereport.vault.keystore import KeyStore

__all__ = ["TransientBox"]


class TransientBox:
    """Seal and open small values bound to one label (a row's key)."""

    __slots__ = ("_aead",)

    def __init__(self, keys: KeyStore, purpose: str) -> None:
        derived = keyed_digest(keys.index_key(), b"safereport transient v1 " + purpose.encode())
        self._aead = Aead(bytes.fromhex(derived))

    def seal(self, label: str, value: bytes) -> bytes:
        return self._aead.seal(value, label.encode())

    def open(self, label: str, sealed: bytes) -> bytes:
        """The value; :class:`~safereport.errors.VaultError` if it was not sealed here."""
        return self._aead.open(sealed, label.encode())
