"""Her safety plan: actions with owners and dates, sealed, each write decided and recorded
(issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from tests.staff._client import csrf_of, signed_in
from tests.staff._world import StaffWorld

from safereport.errors import AccessDenied, InvalidInput
from safereport.ledger.record import parse_leaf
from safereport.services import casework
from safereport.store.ledger import ledger_entries
from safereport.store.staff import safety_plan_actions


def _last_event(world: StaffWorld) -> str:
    with world.instance.engine.connect() as conn:
        leaf = conn.execute(select(ledger_entries.c.leaf)
                            .order_by(ledger_entries.c.idx.desc()).limit(1)).scalar_one()
    return str(parse_leaf(bytes(leaf))["detail"].get("event"))


def test_actions_with_owners_and_dates(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    filed = world.file("cw")
    cw, sup1 = world.users["cw"], world.users["sup1"]
    past = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%d")
    later = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%d")
    first = casework.add_safety_action(world.instance, cw, filed.case_id,
                                       "Ask the council to change the locks",
                                       owner_id=sup1.id, due=past)
    assert _last_event(world) == "safety_plan"
    casework.add_safety_action(world.instance, cw, filed.case_id, "Apply for a non-molestation "
                               "order", owner_id=cw.id, due=later)
    with world.instance.engine.connect() as conn:
        sealed = conn.execute(select(safety_plan_actions.c.sealed)).scalars().all()
    assert all(b"locks" not in bytes(s) and b"order" not in bytes(s) for s in sealed)
    plan = casework.case_page(world.instance, cw, filed.case_id).safety_plan
    assert [(a.text, a.owner, a.overdue) for a in plan] == [
        ("Ask the council to change the locks", "Sup1", True),
        ("Apply for a non-molestation order", "Cw", False)]
    casework.complete_safety_action(world.instance, cw, filed.case_id, first)
    assert _last_event(world) == "safety_done"
    plan = casework.case_page(world.instance, cw, filed.case_id).safety_plan
    assert plan[0].done_at is not None and not plan[0].overdue
    with pytest.raises(InvalidInput, match="no such open action"):
        casework.complete_safety_action(world.instance, cw, filed.case_id, first)
    for bad in ({"due": "next week"}, {"owner_id": world.users["officer"].id}):
        kwargs = {"owner_id": cw.id, "due": later} | bad
        with pytest.raises(InvalidInput):
            casework.add_safety_action(world.instance, cw, filed.case_id, "x", **kwargs)
    with pytest.raises(InvalidInput, match="say what"):
        casework.add_safety_action(world.instance, cw, filed.case_id, "  ", owner_id=cw.id,
                                   due=later)
    with pytest.raises(InvalidInput, match="no such case"):
        casework.add_safety_action(world.instance, world.users["other_cw"], filed.case_id,
                                   "probe", owner_id=world.users["other_cw"].id, due=later)
    # An auditor of the same organisation reads no plan and writes none.
    auditor_page = casework.case_page(world.instance, world.users["analyst"], filed.case_id)
    assert auditor_page.safety_plan == []
    with pytest.raises((AccessDenied, InvalidInput)):
        casework.add_safety_action(world.instance, world.users["analyst"], filed.case_id,
                                   "x", owner_id=cw.id, due=later)


def test_the_safety_plan_on_the_case_page(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    filed = world.file("cw")
    client = signed_in(world, "cw")
    token = csrf_of(client.get(f"/staff/cases/{filed.case_id}").text)
    response = client.post(f"/staff/cases/{filed.case_id}/safety-plan", data={
        "csrf_token": token, "action": "Panic alarm fitted", "owner": world.users["cw"].id,
        "due": "2026-12-24"})
    assert response.status_code == 303
    page = client.get(f"/staff/cases/{filed.case_id}").text
    assert "Panic alarm fitted" in page and "24 Dec 2026" in page
    refused = client.post(f"/staff/cases/{filed.case_id}/safety-plan", data={
        "csrf_token": token, "action": "x", "owner": world.users["cw"].id, "due": "soon"})
    assert refused.status_code == 400 and "YYYY-MM-DD" in refused.text
