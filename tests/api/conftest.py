"""Fixtures for the integration API: the staff tests' real instance, tokens and a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.staff._client import TestClient
from tests.staff._world import StaffWorld, make_staff_world
from tests.staff.conftest import sqlite_world

from safereport.domain.vocabulary import DataCategory, Purpose
from safereport.services import disclosure, integrations
from safereport.services.disclosure import DisclosureForm
from safereport.services.integrations import Scope
from safereport.web.app import create_app

__all__ = ["api_client", "bearer", "make_token", "marac_referral", "sqlite_world",
           "world"]

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


def marac_referral(world: StaffWorld) -> tuple[str, str]:
    """A MARAC referral released to the MARAC: (case id, disclosure request id)."""
    filed = world.file("sup1")
    request_id = disclosure.request_disclosure(world.instance, world.users["sup1"], DisclosureForm(
        case_id=filed.case_id, recipient_org_id=world.orgs["marac"], purpose=Purpose.MARAC,
        categories=frozenset({DataCategory.IDENTITY, DataCategory.CRIME_DETAILS}),
        justification="High risk; MARAC on Thursday."))
    disclosure.approve(world.instance, world.users["sup2"], request_id)
    return filed.case_id, request_id


@pytest.fixture
def api_client(world: StaffWorld) -> Iterator[TestClient]:
    with TestClient(create_app(world.instance), base_url="http://testserver") as client:
        yield client
