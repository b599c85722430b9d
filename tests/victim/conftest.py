"""Fixtures: a real instance (guard, vault, ledger) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.victim._world import World, make_world


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    made = make_world(tmp_path, db_url)
    try:
        yield made
    finally:
        made.instance.close()


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[World]:
    made = make_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    try:
        yield made
    finally:
        made.instance.close()
