"""Envelope recipes: data keys wrapped by key-encryption keys, fields and blobs sealed by data keys.

Associated data binds every ciphertext to where it belongs, so a ciphertext copied to another
case, another field, another blob purpose or another key version fails to open:

* a field: ``(case id, field name, data-key version)``
* a blob: ``(case id, data category, purpose label, data-key version)``
* a wrapped data key: ``(case id, data-key version, KEK id)``

A sealed token is ``format (1 byte) || data-key version (4 bytes, big-endian) || nonce ||
ciphertext || tag``; the version is in the clear so the right key can be found, and it is also
in the associated data, so changing it breaks the tag.
"""

from __future__ import annotations

import struct

from safereport.errors import VaultError
from safereport.vault._primitives import KEY_BYTES, Aead, random_key

__all__ = [
    "DataKey",
    "check_case_id",
    "check_data_key",
    "data_key_aad",
    "new_data_key",
    "token_version",
]

_FORMAT = b"\x01"
_HEADER = struct.Struct(">cI")
_FIELD_AAD = b"safereport.vault/field/1\x00"
_BLOB_AAD = b"safereport.vault/blob/1\x00"
_WRAP_AAD = b"safereport.vault/data-key/1\x00"
_MAX_ID_CHARS = 64


def check_case_id(case_id: str) -> bytes:
    """``case_id`` as bytes; VaultError for anything that could blur the associated data."""
    if not isinstance(case_id, str) or not 0 < len(case_id) <= _MAX_ID_CHARS:
        raise VaultError()
    if not case_id.isascii() or not case_id.isprintable():
        raise VaultError()
    return case_id.encode("ascii")


def new_data_key() -> bytes:
    return random_key()


def data_key_aad(case_id: bytes, version: int, kek_id: str) -> bytes:
    """What a wrapped data key is bound to: its case, its version and the KEK wrapping it."""
    return b"%s%s\x00%d\x00%s" % (_WRAP_AAD, case_id, version, kek_id.encode("ascii"))


def check_data_key(key: bytes) -> bytes:
    if len(key) != KEY_BYTES:
        raise VaultError()
    return key


class DataKey:
    """One case's data key, unwrapped, with the recipes that seal and open under it."""

    __slots__ = ("_aead", "_blob_prefix", "_field_prefix", "_header", "_suffix", "version")

    def __init__(self, key: bytes, case_id: bytes, version: int) -> None:
        self._aead = Aead(key)
        self.version = version
        self._header = _HEADER.pack(_FORMAT, version)
        # Built once per case: the per-field associated data is then two concatenations.
        self._field_prefix = _FIELD_AAD + case_id + b"\x00"
        self._blob_prefix = _BLOB_AAD + case_id + b"\x00"
        self._suffix = b"\x00%d" % version

    def _field_aad(self, field: str) -> bytes:
        return self._field_prefix + field.encode("ascii") + self._suffix

    def _blob_aad(self, category: str, label: str) -> bytes:
        return (
            self._blob_prefix + category.encode("ascii") + b"\x00" + label.encode("utf-8")
            + self._suffix
        )

    def seal_field(self, field: str, text: str) -> bytes:
        return self._aead.seal_after(self._header, text.encode("utf-8"), self._field_aad(field))

    def open_field(self, field: str, token: bytes) -> str:
        plain = self._aead.open_after(self._header, token, self._field_aad(field))
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise VaultError() from exc

    def seal_blob(self, category: str, label: str, data: bytes) -> bytes:
        return self._aead.seal_after(self._header, data, self._blob_aad(category, label))

    def open_blob(self, category: str, label: str, token: bytes) -> bytes:
        return self._aead.open_after(self._header, token, self._blob_aad(category, label))


def token_version(token: bytes) -> int:
    """The data-key version a token claims (checked again by its tag when opened)."""
    if len(token) < _HEADER.size or token[:1] != _FORMAT:
        raise VaultError()
    version: int = _HEADER.unpack_from(token)[1]
    return version
