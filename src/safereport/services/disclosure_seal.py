"""Sealing a released disclosure to its recipient organisation (X25519 + HKDF + AES-256-GCM).

The vault's primitives module covers symmetric sealing only; public-key sealing to another
organisation lives in this one small recipe (ECIES-style: an ephemeral X25519 key agreement,
HKDF-SHA256, AES-256-GCM with the disclosure id as associated data). Every failure to open is
the one opaque :class:`~safereport.errors.VaultError`.

Each organisation's key pair is made on first need: the public key in ``org_keys``, the
private key in ``<keys dir>/orgs/<org id>.x25519`` (mode 0600). In a real deployment the
recipient holds its private key itself; keeping it here lets one instance host both sides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, insert, select

from safereport.errors import ConfigError, VaultError
from safereport.store.core import organisations
from safereport.store.staff import org_keys

__all__ = ["SealedPackage", "ensure_org_key", "open_package", "seal_package"]

_INFO = b"safereport/disclosure-package/1"
_RAW = serialization.Encoding.Raw


@dataclass(frozen=True, slots=True)
class SealedPackage:
    ephemeral_public: bytes
    nonce: bytes
    ciphertext: bytes


def _key_path(keys_dir: Path, org_id: str) -> Path:
    if not org_id.isalnum():
        raise ConfigError("an organisation id must be alphanumeric")
    return keys_dir / "orgs" / f"{org_id}.x25519"


def ensure_org_key(conn: Connection, keys_dir: Path, org_id: str) -> bytes:
    """The organisation's public key, making its key pair if it has none yet."""
    # Two workers releasing to the same new recipient at once must not both make a key pair:
    # the later file write would replace the private key behind the public key that was
    # stored, and every package sealed to it would be lost. Locking the organisation's row
    # makes the second wait and then find the first's key (SQLite's BEGIN IMMEDIATE already
    # serialises whole transactions).
    conn.execute(select(organisations.c.id).where(organisations.c.id == org_id)
                 .with_for_update())
    stored = conn.execute(
        select(org_keys.c.public_key).where(org_keys.c.org_id == org_id)
    ).scalar()
    if stored is not None:
        return bytes(stored)
    private = X25519PrivateKey.generate()
    path = _key_path(keys_dir, org_id)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    raw = private.private_bytes(_RAW, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(raw)
    public = private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    conn.execute(insert(org_keys).values(org_id=org_id, public_key=public,
                                         created_at=datetime.now(UTC)))
    return public


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient,
                info=_INFO).derive(shared)


def seal_package(recipient_public: bytes, associated: bytes, data: bytes) -> SealedPackage:
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_public))
    key = _derive(shared, ephemeral_public, recipient_public)
    nonce = os.urandom(12)
    return SealedPackage(ephemeral_public, nonce, AESGCM(key).encrypt(nonce, data, associated))


def open_package(keys_dir: Path, org_id: str, associated: bytes, package: SealedPackage) -> bytes:
    """Open a package sealed to ``org_id`` with its private key; VaultError on any failure."""
    try:
        private = X25519PrivateKey.from_private_bytes(_key_path(keys_dir, org_id).read_bytes())
        public = private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
        shared = private.exchange(X25519PublicKey.from_public_bytes(package.ephemeral_public))
        key = _derive(shared, package.ephemeral_public, public)
        return AESGCM(key).decrypt(package.nonce, package.ciphertext, associated)
    except (OSError, ValueError, InvalidTag, ConfigError) as exc:
        raise VaultError() from exc
