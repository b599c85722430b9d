"""Fixtures for the integration API: the staff tests' real instance, tokens and a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.staff._client import TestClient
from tests.staff._world import StaffWorld, make_staff_world
from tests.staff.conftest import _fast_argon2, sqlite_world

from safereport.services import integrations
from safereport.services.integrations import Scope
from safereport.web.app import create_app

__all__ = ["_fast_argon2", "api_client", "bearer", "make_token", "sqlite_world", "world"]

ALL_SCOPES = tuple(s.value for s in Scope)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[StaffWorld]:
    made = make_staff_world(tmp_path, db_url)
    try:
        yield made
    finally:
        made.instance.close()


def make_token(world: StaffWorld, name: str, *, org: str = "Example Police",
               role: str = "police_system", scopes: tuple[str, ...] = ALL_SCOPES,
               rate: int = 1000) -> str:
    """A token's secret (the CLI prints it once)."""
    _, secret = integrations.add_token(world.instance, name=name, org=org, role=role,
                                       scopes=scopes, rate_per_minute=rate)
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def api_client(world: StaffWorld) -> Iterator[TestClient]:
    with TestClient(create_app(world.instance), base_url="http://testserver") as client:
        yield client
