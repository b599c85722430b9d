"""Test helpers: a real instance (guard, vault, ledger) with a support service and a police force.

Argon2id runs with test parameters here (``settings.argon2``, tests/support/cheap_costs.py) so that
codename tests are fast; the production parameters are tested in ``test_codename.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from tests.support.cheap_costs import cheap

from safereport.config import Secret, load_settings
from safereport.domain.vocabulary import ActorRole, OrgKind
from safereport.services.access import Actor
from safereport.services.instance import Instance
from safereport.services.setup import init_instance
from safereport.services.users import add_org
from safereport.store.db import make_engine
from safereport.store.tables import metadata


@dataclass
class World:
    instance: Instance
    support_id: str
    police_id: str

    def caseworker(self) -> Actor:
        return Actor(id="user:caseworker-1", role=ActorRole.CASEWORKER, org_id=self.support_id,
                     org_kind=OrgKind.SUPPORT_SERVICE)

    def officer(self) -> Actor:
        return Actor(id="user:officer-1", role=ActorRole.POLICE_OFFICER, org_id=self.police_id,
                     org_kind=OrgKind.POLICE)


def make_world(tmp_path: Path, db_url: str, *, regime: str = "firewall",
               settings: dict[str, Any] | None = None) -> World:
    postgres = db_url.startswith("postgresql")
    path = init_instance(tmp_path / "instance", regime=regime,
                         database_url=db_url if postgres else None)
    loaded = load_settings(path)
    if postgres:
        loaded = replace(loaded, database_url=Secret(db_url))
    loaded = cheap(loaded, **(settings or {}))
    instance = Instance(settings=loaded, engine=make_engine(loaded.effective_database_url()))
    metadata.create_all(instance.engine)  # a no-op once the migrations have made every table
    with instance.engine.begin() as conn:
        support = add_org(conn, "Safe Haven Support", OrgKind.SUPPORT_SERVICE)
        police = add_org(conn, "Example Police", OrgKind.POLICE)
    return World(instance, support, police)


# Fixtures: conftest.py files import these under the names their tests use.

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
