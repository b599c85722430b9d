"""Item 6: a NUL byte in an id, username or reference is a clear 400 (never a 500 on
PostgreSQL), and a refused case-page attempt is on record."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from tests.support.staff_client import csrf_of, signed_in
from tests.support.staff_web import client_from, sign_in
from tests.support.staff_world import PASSWORD, StaffWorld

from safereport.store.ledger import ledger_entries

NUL_PATHS = [
    "/staff/cases/ab%00cd",
    "/staff/cases/ab%00cd/disclose",
    "/staff/disclosures/ab%00cd",
    "/staff/search?q=SR%00X&kind=reference",
    "/statistics/releases/2026-10%00.json",
    "/statistics/releases/2026-10%00",
]


def _entries(world: StaffWorld) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ledger_entries)).scalar_one())


@pytest.mark.parametrize("path", NUL_PATHS)
def test_item6_nul_in_an_address_is_a_clear_400(world: StaffWorld, path: str) -> None:
    client = signed_in(world, "cw", client_from(world))
    answer = client.get(path)
    assert answer.status_code == 400 and "NUL" in answer.text


def test_item6_a_refused_case_page_with_nul_is_on_record(world: StaffWorld) -> None:
    client = signed_in(world, "cw", client_from(world))
    before = _entries(world)
    assert client.get("/staff/cases/ab%00cd").status_code == 400
    assert _entries(world) == before + 1
    with world.instance.engine.connect() as conn:
        last = conn.execute(select(ledger_entries.c.effect, ledger_entries.c.actor_role)
                            .order_by(ledger_entries.c.idx.desc()).limit(1)).one()
    assert tuple(last) == ("deny", "caseworker")


def test_item6_nul_in_a_sign_in_username_is_a_clear_400(world: StaffWorld) -> None:
    client = client_from(world)
    answer = sign_in(client, "cw\x00", PASSWORD)
    assert answer.status_code == 400  # type: ignore[attr-defined]


@pytest.mark.parametrize("field", ["recipient", "purpose", "categories"])
def test_item6_nul_in_a_staff_form_is_a_clear_400(world: StaffWorld, field: str) -> None:
    filed = world.file()
    client = signed_in(world, "cw", client_from(world))
    page = client.get(f"/staff/cases/{filed.case_id}/disclose")
    answer = client.post(f"/staff/cases/{filed.case_id}/disclose",
                         data={"csrf_token": csrf_of(page.text), field: "po\x00lice"})
    assert answer.status_code == 400
