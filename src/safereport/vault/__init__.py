"""The vault: field-level envelope encryption, key stores, rotation, shredding, blind indexes.

    init_vault(settings)        at ``safereport init``: the key file (or check the variables)
    open_vault(settings)        a Vault over the instance's key store; ConfigError if unsafe
    Vault                       seal/open fields and blobs, shred, blind indexes
    rotate_keys(engine, vault)  a new KEK rewraps every data key; resumable
"""

from __future__ import annotations

from collections.abc import Mapping

from safereport.config import Settings
from safereport.vault.blind import BlindKind, normalise
from safereport.vault.keystore import (
    KEY_FILE_NAME,
    EnvKeyStore,
    FileKeyStore,
    KeyStore,
    UnsafeMemoryKeyStore,
)
from safereport.vault.rotation import RotationReport, rotate_keys
from safereport.vault.vault import OpenedFields, Vault, WithheldReason, purge_remnants

__all__ = [
    "KEY_FILE_NAME",
    "BlindKind",
    "EnvKeyStore",
    "FileKeyStore",
    "KeyStore",
    "OpenedFields",
    "RotationReport",
    "UnsafeMemoryKeyStore",
    "Vault",
    "WithheldReason",
    "init_vault",
    "normalise",
    "open_key_store",
    "open_vault",
    "purge_remnants",
    "rotate_keys",
]


def init_vault(settings: Settings, env: Mapping[str, str] | None = None) -> None:
    """Create the key file (0600 in a 0700 folder), or check the variables if ``kek_env`` is set."""
    if settings.kek_env:
        EnvKeyStore(settings.kek_env, env)
        return
    FileKeyStore.create(settings.keys_dir / KEY_FILE_NAME)


def open_key_store(settings: Settings, env: Mapping[str, str] | None = None) -> KeyStore:
    """The instance's key store; ConfigError if missing, invalid or readable by others."""
    if settings.kek_env:
        return EnvKeyStore(settings.kek_env, env)
    return FileKeyStore(settings.keys_dir / KEY_FILE_NAME)


def open_vault(settings: Settings, env: Mapping[str, str] | None = None) -> Vault:
    """A Vault for the instance; refuses (ConfigError) to start on an unsafe key file."""
    return Vault(open_key_store(settings, env))
