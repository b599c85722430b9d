"""Fixtures for the services: the staff world (tests/support/staff_world.py) and a demo instance.

tests/services/victim/ has her world under the same names.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.staff_world import npcc_world, sqlite_world, world

from safereport.services.instance import Instance, open_instance
from safereport.services.setup import init_instance
from safereport.services.synthetic import DemoOrgs, populate_cases, populate_orgs, populate_staff

__all__ = ["demo", "npcc_world", "sqlite_world", "world"]


@pytest.fixture
def demo(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Instance, DemoOrgs]]:
    """A fresh instance (SQLite or PostgreSQL) with organisations, staff and 60 cases."""
    external = None if db_url.startswith("sqlite") else db_url
    if external:
        monkeypatch.setenv("SAFEREPORT_DATABASE_URL", external)
    target = init_instance(tmp_path / "inst", database_url=external)
    instance = open_instance(target)
    with instance.engine.begin() as conn:
        orgs = populate_orgs(conn)
        populate_staff(conn, orgs)
    populate_cases(instance, seed=3, count=60, holders=orgs.holders)
    yield instance, orgs
    instance.close()
