"""Audit: a refusal outside the policy's request space is on the ledger under its own service
rule (S-..., POLICY.md section 6) with its real reason, never as "C-default: Invalid request"."""

from __future__ import annotations

import ast
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from tests.support.ledger_entries import entries
from tests.support.paths import SRC
from tests.support.staff_world import StaffWorld

from safereport.domain.fields import CaseField
from safereport.domain.refusals import ACCOUNT_REFUSALS, FAILURES, SERVICE_RULE_MEANINGS
from safereport.domain.vocabulary import Action, Purpose, ServiceRule
from safereport.errors import AccessDenied, InvalidInput
from safereport.services import disclosure
from safereport.services.access import access_case, decide_and_record, record_failure
from safereport.services.casework import CaseNotHeld, actor_for, case_page
from safereport.services.disclosure import PackageExpired
from safereport.store.core import cases
from safereport.store.ledger import ledger_entries
from safereport.store.vault import vault_fields


def _assert_refused(
    instance: Any, rule: ServiceRule, outcome: str | None = None
) -> dict[str, Any]:
    """The last entry is a deny under ``rule`` (its rules column too), never C-default."""
    last = entries(instance)[-1]
    assert last["decision"] == "deny"
    assert last["rules"] == [rule.value], last
    with instance.engine.connect() as conn:
        rules = conn.execute(select(ledger_entries.c.rules)
                             .where(ledger_entries.c.idx == last["idx"])).scalar_one()
    assert rules == rule.value
    if outcome is not None:
        assert last["detail"]["outcome"] == outcome
    return last


def test_an_unknown_case_id_is_s_unknown_case(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    with pytest.raises(AccessDenied, match="No case has this id"):
        access_case(world.instance, actor_for(world.users["cw"]), "no-such-case",
                    purpose=Purpose.SUPPORT, fields=[CaseField.NARRATIVE])
    last = _assert_refused(world.instance, ServiceRule.UNKNOWN_CASE)
    assert last["case"] == "no-such-case" and last["action"] == "view"


def test_an_erased_case_is_s_erased(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = world.file().case_id
    with world.instance.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == case_id)
                     .values(erased_at=cases.c.created_at))
    with pytest.raises(AccessDenied, match="erased"):
        access_case(world.instance, actor_for(world.users["cw"]), case_id,
                    purpose=Purpose.SUPPORT, fields=[CaseField.NARRATIVE])
    last = _assert_refused(world.instance, ServiceRule.ERASED)
    assert last["case"] == case_id


def test_another_organisations_case_is_s_not_held(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = world.file().case_id
    with pytest.raises(CaseNotHeld, match="no such case"):
        case_page(world.instance, world.users["other_cw"], case_id)
    last = _assert_refused(world.instance, ServiceRule.NOT_HELD)
    assert last["case"] == case_id


def test_a_vault_failure_is_s_vault_failure(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = world.file().case_id
    with world.instance.engine.begin() as conn:
        where = (vault_fields.c.case_id == case_id, vault_fields.c.field == "narrative")
        sealed = bytes(conn.execute(select(vault_fields.c.ciphertext).where(*where)).scalar_one())
        conn.execute(update(vault_fields).where(*where).values(
            ciphertext=sealed[:1] + bytes([sealed[1] ^ 1]) + sealed[2:]))
    with pytest.raises(AccessDenied):
        access_case(world.instance, actor_for(world.users["cw"]), case_id,
                    purpose=Purpose.SUPPORT, fields=[CaseField.NARRATIVE])
    # The failure's name is kept too (detail.outcome), and the table gives its reason.
    _assert_refused(world.instance, ServiceRule.VAULT_FAILURE, "vault_error")


def test_an_expired_package_is_s_expired(sqlite_world: StaffWorld) -> None:
    from tests.services.disclosure.test_recipients import _marac_referral

    world = sqlite_world
    _, request_id = _marac_referral(world)
    marac = world.users["marac"]
    [item] = disclosure.inbox(world.instance, marac)
    with pytest.raises(PackageExpired):
        disclosure.read_package(world.instance, marac, request_id,
                                now=item.expires_at + timedelta(seconds=1))
    _assert_refused(world.instance, ServiceRule.EXPIRED, "package_expired")


def test_an_unknown_fact_is_s_malformed_naming_it(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = world.file().case_id
    decision, _ = decide_and_record(
        world.instance, actor_for(world.users["cw"]), case_id, action=Action.VIEW,
        purpose=Purpose.SUPPORT, categories=[], context={"consent": True})
    assert not decision.allowed and decision.rules == ("S-malformed",)
    assert decision.reasons == ("Facts the caller may not state: consent",)
    _assert_refused(world.instance, ServiceRule.MALFORMED)


def test_a_failure_not_in_the_table_is_still_a_deny_and_an_error(
    sqlite_world: StaffWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = sqlite_world
    with caplog.at_level(logging.ERROR, logger="safereport.access"):
        denial = record_failure(world.instance, actor_for(world.users["cw"]), None, None,
                                "no_such_failure_name")
    assert denial.rules == ("S-malformed",) and not denial.allowed
    assert denial.reasons == ("An unlisted failure: no_such_failure_name",)
    assert "not in the table" in caplog.text
    _assert_refused(world.instance, ServiceRule.MALFORMED, "no_such_failure_name")


def test_a_step_is_s_step_not_a_refusal(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    step = record_failure(world.instance, actor_for(world.users["admin"]), None, None,
                          "account_added")
    assert "not a refusal" in step.reasons[0]
    _assert_refused(world.instance, ServiceRule.STEP, "account_added")


def test_only_service_rules_are_refusals(sqlite_world: StaffWorld) -> None:
    guard = sqlite_world.instance.guard
    forged = guard.refuse({}, "C-consent", "pretend")  # type: ignore[arg-type]
    assert forged.rules == ("S-malformed",) and not forged.allowed
    assert guard.refuse({"action": "view"}, ServiceRule.ERASED, "gone").request["action"] == "view"


def test_a_package_not_held_says_so(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    with pytest.raises(InvalidInput, match="no such package"):
        disclosure.read_package(world.instance, world.users["marac"], "x" * 32)
    _assert_refused(world.instance, ServiceRule.NOT_HELD, "package_not_held")


# ---- the closed table covers every failure the services record ----


#: The non-literal failure arguments whose values _dynamic_failures enumerates.
_DYNAMIC = {("services/users.py", "step"), ("services/provenance.py", "exc.failure"),
            ("services/disclosure/release.py", "failure")}


def _literal_failures() -> dict[str, str]:
    """Every literal failure name passed to record_failure in src/, with where; fails on a
    non-literal one that :func:`_dynamic_failures` does not enumerate."""
    found: dict[str, str] = {}
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name == "record_failure" and len(node.args) >= 5:
                arg = node.args[4]
                where = str(path.relative_to(SRC))
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found[arg.value] = f"{where}:{node.lineno}"
                else:
                    assert (where, ast.unparse(arg)) in _DYNAMIC, (
                        f"{where}:{node.lineno}: a failure name the table test cannot see: "
                        "enumerate its values in _dynamic_failures")
    return found


def _dynamic_failures() -> dict[str, set[str]]:
    """Failure names that reach record_failure through a variable, from their definitions:
    account steps (users._administer's step), _Refused / _FactWithdrawn failures, and
    _refuse_release's failure argument."""
    out: dict[str, set[str]] = {"steps": set(), "provenance": set(), "disclosure": set(),
                                "accounts": set()}

    def literals(file: str, callee: str, position: int) -> set[str]:
        tree = ast.parse((SRC / file).read_text(encoding="utf-8"))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and len(node.args) > position:
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                arg = node.args[position]
                if name == callee and isinstance(arg, ast.Constant) and isinstance(
                        arg.value, str):
                    names.add(arg.value)
        return names

    out["steps"] = literals("services/users.py", "_administer", 2)
    out["provenance"] = literals("services/provenance.py", "_Refused", 0)
    out["disclosure"] = (literals("services/disclosure/release.py", "_FactWithdrawn", 0)
                         | literals("services/disclosure/release.py", "_refuse_release", 2))
    out["accounts"] = literals("services/users.py", "_Refused", 0)
    return out


def test_every_literal_failure_is_in_the_table() -> None:
    found = _literal_failures()
    assert len(found) >= 20, found  # the scan sees the call sites
    missing = {name: where for name, where in found.items() if name not in FAILURES}
    assert not missing, f"add these to safereport.domain.refusals.FAILURES: {missing}"


def test_every_dynamic_failure_is_in_the_table() -> None:
    dynamic = _dynamic_failures()
    assert dynamic["steps"] >= {"account_disabled", "factor_reset_confirmed"}
    assert "confirmation_by_recorder" in dynamic["provenance"]
    assert {"consent_withdrawn", "no_door_to_notify"} <= dynamic["disclosure"]
    for kind in ("steps", "provenance", "disclosure"):
        missing = dynamic[kind] - set(FAILURES)
        assert not missing, f"{kind}: add to FAILURES: {sorted(missing)}"
    assert {FAILURES[step][0] for step in dynamic["steps"]} == {ServiceRule.STEP}
    missing = dynamic["accounts"] - set(ACCOUNT_REFUSALS)
    assert not missing, f"add to ACCOUNT_REFUSALS: {sorted(missing)}"


def test_every_service_rule_has_a_meaning_and_is_used() -> None:
    assert set(SERVICE_RULE_MEANINGS) == set(ServiceRule)
    used = {rule for rule, _ in FAILURES.values()} | {rule for rule, _ in
                                                       ACCOUNT_REFUSALS.values()}
    # S-unknown-case comes from the road itself (services/access.py), not from a failure name.
    assert used | {ServiceRule.UNKNOWN_CASE} == set(ServiceRule)
    assert list(ServiceRule) == sorted(ServiceRule, key=lambda rule: rule.value)


def test_the_auditor_page_says_what_each_service_rule_means(sqlite_world: StaffWorld) -> None:
    from tests.support.staff_client import signed_in

    world = sqlite_world
    with pytest.raises(AccessDenied):
        access_case(world.instance, actor_for(world.users["cw"]), "no-such-case",
                    purpose=Purpose.SUPPORT, fields=[CaseField.NARRATIVE])
    page = signed_in(world, "auditor").get("/staff/audit").text
    assert "<code>S-unknown-case</code>" in page
    assert 'data-meaning="S-unknown-case">No case has this id.<' in page
