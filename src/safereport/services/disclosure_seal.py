"""Sealing a released disclosure to its recipient organisation.

The crypto is the vault's recipe (:func:`safereport.vault.recipes.seal_to_recipient`: an
ephemeral X25519 key agreement, HKDF-SHA256, AES-256-GCM with the disclosure id as associated
data); every failure to open is the one opaque :class:`~safereport.errors.VaultError`.

Each organisation's key pair is made on first need: the public key in ``org_keys``, the
private key in ``<keys dir>/orgs/<org id>.x25519`` (mode 0600, by the vault's one key-file
writer). In a real deployment the recipient holds its private key itself; keeping it here lets
one instance host both sides.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection

from safereport.errors import ConfigError, VaultError
from safereport.store.disclosures import insert_org_key, lock_organisation, org_public_key
from safereport.vault.keyfile import make_key_folder, read_key_file, write_key_file
from safereport.vault.recipes import (
    RecipientSealed,
    new_recipient_key,
    open_as_recipient,
    seal_to_recipient,
)

__all__ = ["SealedPackage", "ensure_org_key", "open_package", "seal_package"]

_INFO = b"safereport/disclosure-package/1"
#: A package as stored: the ephemeral public key, the nonce and the ciphertext.
SealedPackage = RecipientSealed


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
    lock_organisation(conn, org_id)
    stored = org_public_key(conn, org_id)
    if stored is not None:
        return stored
    private, public = new_recipient_key()
    path = _key_path(keys_dir, org_id)
    make_key_folder(path.parent)
    # Replacing: a file left by a transaction that rolled back has no public key on record.
    write_key_file(path, private, replace=True)
    insert_org_key(conn, org_id, public, datetime.now(UTC))
    return public


def seal_package(recipient_public: bytes, associated: bytes, data: bytes) -> SealedPackage:
    return seal_to_recipient(recipient_public, data, associated, _INFO)


def open_package(keys_dir: Path, org_id: str, associated: bytes, package: SealedPackage) -> bytes:
    """Open a package sealed to ``org_id`` with its private key; VaultError on any failure."""
    try:
        private = read_key_file(_key_path(keys_dir, org_id), "the organisation's key")
    except ConfigError as exc:
        raise VaultError() from exc
    return open_as_recipient(private, package, associated, _INFO)
