"""Fixtures: a real instance with staff in several organisations (tests/staff/_world.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.staff._world import StaffWorld, make_staff_world


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[StaffWorld]:
    made = make_staff_world(tmp_path, db_url)
    try:
        yield made
    finally:
        made.instance.close()


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[StaffWorld]:
    made = make_staff_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    try:
        yield made
    finally:
        made.instance.close()


@pytest.fixture(autouse=True)
def _fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with test costs for staff passwords."""
    from argon2 import PasswordHasher

    from safereport.services import auth

    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024,
                                                        parallelism=1))
    monkeypatch.setattr(auth, "_DUMMY", [])
