"""The integration API's test helpers: tokens, a MARAC referral, and a client over the staff world.

``api_client`` is a fixture: tests/web/api/conftest.py imports it; the ``world`` it uses is the
staff world (tests/support/staff_world.py) that the requesting directory's conftest provides.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.staff_client import TestClient
from tests.support.staff_world import StaffWorld

from safereport.domain.vocabulary import DataCategory, Purpose
from safereport.services import disclosure, integrations
from safereport.services.disclosure import DisclosureForm
from safereport.services.integrations import Scope
from safereport.web.app import create_app

__all__ = ["api_client", "bearer", "make_token", "marac_referral"]

ALL_SCOPES = tuple(s.value for s in Scope)


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
