"""Fixtures for the vault: a vault over an in-memory key store, and one over a key file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from safereport.domain.fields import CaseField
from safereport.domain.vocabulary import DataCategory, Obligation
from safereport.policy.decision import Grant, UnsafeGrantForTests
from safereport.vault import FileKeyStore, UnsafeMemoryKeyStore, Vault

ALL_CATEGORIES = frozenset(DataCategory)


def grant_for(
    case_id: str,
    categories: Iterable[DataCategory] = ALL_CATEGORIES,
    obligations: frozenset[Obligation] = frozenset(),
) -> Grant:
    return UnsafeGrantForTests(frozenset(categories), case_id=case_id, obligations=obligations)


def sample_fields(tag: str) -> dict[CaseField, str]:
    """A value for every field, each containing ``tag`` so it can be searched for."""
    values = {name: f"{tag}-{name.value}-value" for name in CaseField}
    values[CaseField.EMAIL] = f"{tag.lower()}@example.org"
    values[CaseField.PHONE] = "+44 7700 900123"
    return values


@pytest.fixture
def memory_keys() -> UnsafeMemoryKeyStore:
    return UnsafeMemoryKeyStore()


@pytest.fixture
def vault(memory_keys: UnsafeMemoryKeyStore) -> Vault:
    return Vault(memory_keys)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "vault.json"
    FileKeyStore.create(path)
    return path


@pytest.fixture
def file_vault(key_file: Path) -> Vault:
    return Vault(FileKeyStore(key_file))
