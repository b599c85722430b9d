"""Where key-encryption keys (KEKs) and the blind-index key live.

:class:`KeyStore` is the seam: the vault asks it to wrap and unwrap data keys under a named KEK
and never needs the KEK's bytes itself, so a KMS or HSM (whose keys never leave it) fits behind
the same four calls. Three stores ship:

* :class:`FileKeyStore`: ``keys/vault.json``, created by ``safereport init``, mode 0600 in a
  0700 folder, written by :func:`~safereport.vault.keyfile.write_key_file` (temp file, fsync,
  rename) so a crash cannot corrupt it.
  Opening refuses a file that group or others can read.
* :class:`EnvKeyStore`: base64 keys in environment variables named by ``settings.kek_env``
  (for containers whose secrets arrive as variables).
* :class:`UnsafeMemoryKeyStore`: keys in memory, for tests and benchmarks only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from safereport.errors import ConfigError, VaultError
from safereport.vault._primitives import KEY_BYTES, Aead, random_key
from safereport.vault.keyfile import check_private, make_key_folder, write_key_file

__all__ = [
    "KEY_FILE_NAME",
    "EnvKeyStore",
    "FileKeyStore",
    "KeyStore",
    "UnsafeMemoryKeyStore",
]

KEY_FILE_NAME = "vault.json"
_WHAT = "the vault key file"
_FILE_FORMAT = 1


@runtime_checkable
class KeyStore(Protocol):
    """Key-encryption keys by id, and the blind-index key.

    ``wrap``/``unwrap`` take associated data so a KMS can bind it too. ``unwrap`` raises
    VaultError for an unknown or retired KEK, or a wrapped key that does not open.
    """

    def current_kek_id(self) -> str: ...

    def active_kek_ids(self) -> tuple[str, ...]: ...

    def wrap(self, kek_id: str, key: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes: ...

    def index_key(self) -> bytes: ...

    def add_kek(self) -> str:
        """Make a new KEK the current one (older ones stay active until retired)."""
        ...

    def retire_kek(self, kek_id: str) -> None:
        """Destroy a non-current KEK's material; only when no data key uses it any more."""
        ...


def _new_kek_id() -> str:
    return "kek-" + secrets.token_hex(8)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise ConfigError(f"{what} is not base64 text")
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{what} is not valid base64") from exc
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{what} must be {KEY_BYTES} bytes, not {len(key)}")
    return key


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _KekRing:
    """Active KEKs in memory, shared by the stores: wrap/unwrap by id."""

    def __init__(self) -> None:
        self._keks: dict[str, Aead] = {}
        self._current = ""
        self._index_key = b""

    def load(self, keks: Mapping[str, bytes], current: str, index_key: bytes) -> None:
        if current not in keks:
            raise ConfigError("the current key-encryption key is missing from the key store")
        self._keks = {kek_id: Aead(key) for kek_id, key in keks.items()}
        self._current = current
        self._index_key = index_key

    @property
    def index_key(self) -> bytes:
        return self._index_key

    def has(self, kek_id: str) -> bool:
        return kek_id in self._keks

    def wrap(self, kek_id: str, key: bytes, aad: bytes) -> bytes:
        aead = self._keks.get(kek_id)
        if aead is None:
            raise VaultError()
        return aead.seal(key, aad)

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes:
        aead = self._keks.get(kek_id)
        if aead is None:
            raise VaultError()
        return aead.open(wrapped, aad)


class UnsafeMemoryKeyStore:
    """Keys held only in memory. Tests and benchmarks only: a restart loses every case."""

    def __init__(self, *, index_key: bytes | None = None) -> None:
        self._ring = _KekRing()
        self._material: dict[str, bytes] = {}
        first = _new_kek_id()
        self._material[first] = random_key()
        self._current = first
        self._ring.load(self._material, first, index_key or random_key())

    def current_kek_id(self) -> str:
        return self._current

    def active_kek_ids(self) -> tuple[str, ...]:
        return tuple(self._material)

    def wrap(self, kek_id: str, key: bytes, aad: bytes) -> bytes:
        return self._ring.wrap(kek_id, key, aad)

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes:
        return self._ring.unwrap(kek_id, wrapped, aad)

    def index_key(self) -> bytes:
        return self._ring.index_key

    def add_kek(self) -> str:
        kek_id = _new_kek_id()
        self._material[kek_id] = random_key()
        self._current = kek_id
        self._ring.load(self._material, kek_id, self._ring.index_key)
        return kek_id

    def retire_kek(self, kek_id: str) -> None:
        if kek_id == self._current:
            raise ConfigError("the current key-encryption key cannot be retired")
        self._material.pop(kek_id, None)
        self._ring.load(self._material, self._current, self._ring.index_key)

    def unsafe_material(self) -> dict[str, bytes]:
        """Every key this store still holds (for tests that try every remaining key)."""
        return {**self._material, "index": self._ring.index_key}


# --- the key file -----------------------------------------------------------------------


@dataclass
class _KeyFile:
    current: str
    keks: dict[str, dict[str, Any]]
    index_key: str

    def to_json(self) -> str:
        body = {
            "format": _FILE_FORMAT,
            "current": self.current,
            "keks": self.keks,
            "index_key": self.index_key,
        }
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    @classmethod
    def parse(cls, text: str, where: Path) -> _KeyFile:
        try:
            body = json.loads(text)
            if body.get("format") != _FILE_FORMAT:
                raise ConfigError(f"{where}: unknown key file format")
            return cls(str(body["current"]), dict(body["keks"]), str(body["index_key"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{where} is not a valid vault key file") from exc

    def active(self) -> dict[str, bytes]:
        return {
            kek_id: _unb64(entry["key"], f"key {kek_id}")
            for kek_id, entry in self.keks.items()
            if entry.get("key")
        }


class FileKeyStore:
    """KEKs and the blind-index key in one private JSON file.

    Other processes may rotate keys while this one runs, so the file is read again whenever it
    has changed on disk (one ``stat`` per call) or a KEK id is unknown.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ring = _KekRing()
        self._signature: tuple[int, int, int] | None = None
        self._file: _KeyFile | None = None
        self._reload()

    @classmethod
    def create(cls, path: Path) -> FileKeyStore:
        """Make a new key file; ConfigError if one is there already (it may guard data)."""
        make_key_folder(path.parent)
        if path.exists():
            raise ConfigError(f"{_WHAT} {path} exists already; refusing to replace it")
        first = _new_kek_id()
        keys = _KeyFile(
            current=first,
            keks={first: {"key": _b64(random_key()), "created": _now(), "retired": None}},
            index_key=_b64(random_key()),
        )
        try:
            write_key_file(path, keys.to_json().encode("utf-8"))
        except FileExistsError as exc:
            raise ConfigError(f"{_WHAT} {path} exists already; refusing to replace it") from exc
        return cls(path)

    def _reload(self) -> None:
        info = check_private(self.path, _WHAT)
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the vault key file {self.path}") from exc
        keys = _KeyFile.parse(text, self.path)
        self._ring.load(keys.active(), keys.current, _unb64(keys.index_key, "the index key"))
        self._file = keys
        self._signature = (info.st_ino, info.st_size, info.st_mtime_ns)

    def _refresh(self, kek_id: str | None = None) -> None:
        """Re-read if the file changed; any problem now is an opaque failure to open."""
        try:
            info = self.path.stat()
            changed = (info.st_ino, info.st_size, info.st_mtime_ns) != self._signature
            if changed or (kek_id is not None and not self._ring.has(kek_id)):
                self._reload()
        except (OSError, ConfigError) as exc:
            raise VaultError() from exc

    def _keys(self) -> _KeyFile:
        assert self._file is not None  # set by __init__
        return self._file

    def current_kek_id(self) -> str:
        self._refresh()
        return self._keys().current

    def active_kek_ids(self) -> tuple[str, ...]:
        self._refresh()
        return tuple(sorted(self._keys().active()))

    def wrap(self, kek_id: str, key: bytes, aad: bytes) -> bytes:
        self._refresh(kek_id)
        return self._ring.wrap(kek_id, key, aad)

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes:
        self._refresh(kek_id)
        return self._ring.unwrap(kek_id, wrapped, aad)

    def index_key(self) -> bytes:
        return self._ring.index_key

    def add_kek(self) -> str:
        self._reload()
        keys = self._keys()
        kek_id = _new_kek_id()
        keys.keks[kek_id] = {"key": _b64(random_key()), "created": _now(), "retired": None}
        keys.current = kek_id
        write_key_file(self.path, keys.to_json().encode("utf-8"), replace=True)
        self._reload()
        return kek_id

    def retire_kek(self, kek_id: str) -> None:
        self._reload()
        keys = self._keys()
        if kek_id == keys.current:
            raise ConfigError("the current key-encryption key cannot be retired")
        entry = keys.keks.get(kek_id)
        if entry is None or not entry.get("key"):
            return
        # The material goes; the id and dates stay as the record of what was retired when.
        keys.keks[kek_id] = {**entry, "key": None, "retired": _now()}
        write_key_file(self.path, keys.to_json().encode("utf-8"), replace=True)
        self._reload()


# --- environment variables --------------------------------------------------------------


def env_kek_id(key: bytes) -> str:
    """A stable id for a KEK given as a variable: a short fingerprint, never the key."""
    return "env-" + hashlib.sha256(b"safereport.vault/kek-id\x00" + key).hexdigest()[:16]


class EnvKeyStore:
    """Keys from environment variables: ``NAME`` (the current KEK), ``NAME_INDEX`` (the
    blind-index key) and, during a rotation, ``NAME_PREVIOUS`` (older KEKs, comma-separated).

    Each value is 32 random bytes in base64. Rotating means moving the old value to
    ``NAME_PREVIOUS``, setting a new ``NAME``, running ``safereport keys rotate``, and then
    removing ``NAME_PREVIOUS``: variables cannot be rewritten from inside the process.
    """

    def __init__(self, name: str, env: Mapping[str, str] | None = None) -> None:
        source = os.environ if env is None else env
        self.name = name
        current = source.get(name)
        index = source.get(name + "_INDEX")
        if not current or not index:
            raise ConfigError(f"set {name} and {name}_INDEX (base64 of 32 random bytes each)")
        current_key = _unb64(current, name)
        keks = {env_kek_id(current_key): current_key}
        previous = source.get(name + "_PREVIOUS", "").split(",")
        for part in filter(None, (p.strip() for p in previous)):
            old = _unb64(part, name + "_PREVIOUS")
            keks[env_kek_id(old)] = old
        self._current = env_kek_id(current_key)
        self._ring = _KekRing()
        self._ring.load(keks, self._current, _unb64(index, name + "_INDEX"))
        self._ids = tuple(sorted(keks))

    def current_kek_id(self) -> str:
        return self._current

    def active_kek_ids(self) -> tuple[str, ...]:
        return self._ids

    def wrap(self, kek_id: str, key: bytes, aad: bytes) -> bytes:
        return self._ring.wrap(kek_id, key, aad)

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes:
        return self._ring.unwrap(kek_id, wrapped, aad)

    def index_key(self) -> bytes:
        return self._ring.index_key

    def add_kek(self) -> str:
        raise ConfigError(
            f"keys from the environment cannot be added from here: move {self.name} to "
            f"{self.name}_PREVIOUS, set a new {self.name}, then run `safereport keys rotate`"
        )

    def retire_kek(self, kek_id: str) -> None:
        # Nothing to destroy here: the operator removes the variable once rotation is done.
        return None


def generate_env_values() -> dict[str, str]:
    """Fresh base64 values for ``NAME`` and ``NAME_INDEX`` (printed by ``keys generate``)."""
    return {"kek": _b64(random_key()), "index": _b64(random_key())}
