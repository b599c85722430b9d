"""Fixtures: a real instance with staff, on SQLite (and PostgreSQL where it matters)."""

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


@pytest.fixture
def npcc_world(tmp_path: Path) -> Iterator[StaffWorld]:
    made = make_staff_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}", regime="npcc-2020")
    try:
        yield made
    finally:
        made.instance.close()
