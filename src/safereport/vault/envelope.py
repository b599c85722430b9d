"""Envelope recipes: data keys wrapped by key-encryption keys, fields and blobs sealed by data keys.

Associated data binds every ciphertext to where it belongs, so a ciphertext copied to another
case, another field, another blob purpose or another key version fails to open:

* a field: ``(case id, data-key version, field name)``
* a blob: ``(case id, data category, purpose label, data-key version)``
* a wrapped data key: ``(case id, data-key version, KEK id)``

A sealed token is ``format (1 byte) || data-key version (4 bytes, big-endian) || nonce ||
ciphertext || tag``; the version is in the clear so the right key can be found, and it is also
in the associated data, so changing it breaks the tag.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from safereport.domain.fields import CaseField
from safereport.errors import VaultError
from safereport.vault._primitives import KEY_BYTES, AeadBatch, random_key

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
_FIELD_BYTES: dict[str, bytes] = {name.value: name.value.encode("ascii") for name in CaseField}


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

    __slots__ = ("_batch", "_blob_prefix", "_field_prefix", "_suffix", "version")

    def __init__(self, key: bytes, case_id: bytes, version: int) -> None:
        self.version = version
        self._batch = AeadBatch(key, _HEADER.pack(_FORMAT, version))
        # Built once per case, so a field's associated data is one concatenation: fields are
        # short and many, and building it costs as much as AES-GCM on a short field.
        self._field_prefix = b"%s%s\x00%d\x00" % (_FIELD_AAD, case_id, version)
        self._blob_prefix = _BLOB_AAD + case_id + b"\x00"
        self._suffix = b"\x00%d" % version

    def _field_aad(self, field: str) -> bytes:
        try:
            return self._field_prefix + _FIELD_BYTES[field]
        except KeyError as exc:
            raise VaultError() from exc

    def _blob_aad(self, category: str, label: str) -> bytes:
        return (
            self._blob_prefix + category.encode("ascii") + b"\x00" + label.encode("utf-8")
            + self._suffix
        )

    def seal_field(self, field: str, text: str) -> bytes:
        return self._batch.seal([(self._field_aad(field), text.encode("utf-8"))])[0]

    def open_field(self, field: str, token: bytes) -> str:
        plain = self._batch.open([(self._field_aad(field), token)])[0]
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise VaultError() from exc

    def seal_fields(self, values: Iterable[tuple[str, str]]) -> list[bytes]:
        """Tokens for ``(field, text)`` pairs, in order (one tight loop per case)."""
        prefix, known = self._field_prefix, _FIELD_BYTES
        try:
            return self._batch.seal(
                [(prefix + known[field], text.encode("utf-8")) for field, text in values]
            )
        except KeyError as exc:  # not a CaseField: nothing is sealed under an unknown name
            raise VaultError() from exc

    def open_fields(self, tokens: Iterable[tuple[str, bytes]]) -> list[str]:
        """Texts for ``(field, token)`` pairs, in order; VaultError if any one fails."""
        prefix, known = self._field_prefix, _FIELD_BYTES
        try:
            opened = self._batch.open([(prefix + known[field], token) for field, token in tokens])
        except KeyError as exc:
            raise VaultError() from exc
        try:
            return [plain.decode("utf-8") for plain in opened]
        except UnicodeDecodeError as exc:
            raise VaultError() from exc

    def seal_blob(self, category: str, label: str, data: bytes) -> bytes:
        return self._batch.seal([(self._blob_aad(category, label), data)])[0]

    def open_blob(self, category: str, label: str, token: bytes) -> bytes:
        return self._batch.open([(self._blob_aad(category, label), token)])[0]


def token_version(token: bytes) -> int:
    """The data-key version a token claims (checked again by its tag when opened)."""
    if len(token) < _HEADER.size or token[:1] != _FORMAT:
        raise VaultError()
    version: int = _HEADER.unpack_from(token)[1]
    return version
