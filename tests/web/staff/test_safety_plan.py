"""Her safety plan: actions with owners and dates, sealed, each write decided and recorded
(issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from tests.support.staff_client import csrf_of, signed_in
from tests.support.staff_world import StaffWorld

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


def test_actions_that_cannot_be_opened_show_a_plain_line_and_are_denials_on_record(
    sqlite_world: StaffWorld,
) -> None:
    """The safety plan's and the MARAC meeting's actions are opened row by row under the
    page's Grant (casework.open_sealed_rows over the store's typed rows): one that cannot be
    opened shows a plain line, the others their text, and each list's failures are a denial
    on record with their count."""
    from sqlalchemy import update

    from safereport.services import practice
    from safereport.store.staff import marac_actions

    world = sqlite_world
    cw = world.users["cw"]
    case_id = world.file("cw").case_id
    later = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%d")
    spoiled = casework.add_safety_action(world.instance, cw, case_id, "Change the locks",
                                         owner_id=cw.id, due=later)
    casework.add_safety_action(world.instance, cw, case_id, "Keep a phone charged",
                               owner_id=cw.id, due=later)
    marac = practice.add_marac_action(world.instance, cw, case_id, "Flag her address",
                                      agency="police", due=later)
    with world.instance.engine.begin() as conn:
        for table, row_id in ((safety_plan_actions, spoiled), (marac_actions, marac)):
            sealed = bytes(conn.execute(select(table.c.sealed)
                                        .where(table.c.id == row_id)).scalar_one())
            conn.execute(update(table).where(table.c.id == row_id)
                         .values(sealed=sealed[:-1] + bytes([sealed[-1] ^ 1])))
    page = casework.case_page(world.instance, cw, case_id)
    assert sorted(a.text for a in page.safety_plan) == [
        "(this could not be opened)", "Keep a phone charged"]
    assert [a.text for a in page.marac_actions] == ["(this could not be opened)"]
    with world.instance.engine.connect() as conn:
        leaves = [parse_leaf(bytes(leaf)) for leaf in conn.execute(
            select(ledger_entries.c.leaf).order_by(ledger_entries.c.idx.desc()).limit(2))
            .scalars()]
    assert [(leaf["decision"], leaf["detail"]) for leaf in leaves] == [
        ("deny", {"marac_actions_unopened": "1", "outcome": "vault_error"}),
        ("deny", {"safety_actions_unopened": "1", "outcome": "vault_error"})]
