"""The compiled decision table: equal to Cedar over every cell, or not used.

The proof (z3, over all 3,122,380,800 cells of each built-in regime) is checked here, and
then, independently of it, the table is compared with Cedar itself: on one cell for every
distinct leaf and on random cells, and whole decisions of the table path with whole
decisions of the Cedar path (``decide_uncached``), field for field.
"""

from __future__ import annotations

import random
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from tests.policy.test_fast_path import SCENARIOS, random_requests
from tests.support.policy_helpers import REGIMES, req

from safereport.policy import compiled
from safereport.policy.compiled import (
    DOMAINS,
    CategoryOutcome,
    TableMismatch,
    TableUnavailable,
    cedar_leaves,
    cell_count,
    compile_pack,
    leaf_cells,
    random_cells,
    table_for,
    verify,
)
from safereport.policy.guard import Guard
from safereport.policy.regimes import builtin_sources, load_pack
from safereport.policy.scenarios import load_scenarios

N_RANDOM_CELLS = 2_500


def _decision_fields(decision: Any) -> tuple[Any, ...]:
    return (
        decision.effect,
        decision.obligations,
        decision.rules,
        decision.reasons,
        decision.regime,
        decision.policy_hash,
        decision.categories,
        dict(decision.request),
    )


@pytest.mark.parametrize("regime", REGIMES)
def test_table_is_proved_equal_to_cedar_over_every_cell(regime: str) -> None:
    pack = load_pack(regime)
    table = compile_pack(pack)
    assert not table.verified
    verify(table, pack)  # raises TableMismatch on any differing cell
    assert table.verified
    assert cell_count() == 3_122_380_800
    assert table.nodes > 100 and table.leaves > 50
    # what the guard uses is that proved table
    guard = Guard.load(regime)
    assert guard.table is not None and guard.table.verified
    assert guard.table.digest() == table.digest()
    assert guard.fast_path.startswith("decision table:")


@pytest.mark.parametrize("regime", REGIMES)
def test_table_agrees_with_cedar_on_every_leaf_and_random_cells(regime: str) -> None:
    pack = load_pack(regime)
    table = compile_pack(pack)
    cells = leaf_cells(table) + random_cells(f"test-{regime}", N_RANDOM_CELLS)
    assert len(leaf_cells(table)) == table.leaves
    answers = cedar_leaves(pack, cells)
    for cell, want in zip(cells, answers, strict=True):
        assert want is not None
        assert table.lookup(cell) == want, cell


@pytest.mark.parametrize("regime", REGIMES)
def test_table_decisions_are_cedar_decisions_field_for_field(regime: str) -> None:
    guard = Guard.load(regime)
    assert guard.table is not None
    requests = random_requests(seed=1300 + REGIMES.index(regime), count=3000, pool=3000)
    requests += [dict(s.request) for s in load_scenarios(SCENARIOS)]
    for request in requests:
        first = guard.decide(request)
        assert _decision_fields(first) == _decision_fields(guard.decide_uncached(request))
        assert _decision_fields(guard.decide(request)) == _decision_fields(first)  # repeated
    many = Guard(guard.pack).decide_many(requests[:500])
    assert [_decision_fields(d) for d in many] == [
        _decision_fields(guard.decide_uncached(r)) for r in requests[:500]
    ]


def test_custom_pack_compiles(tmp_path: Path) -> None:
    for name, text in builtin_sources("npcc-2020").items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    guard = Guard.load(tmp_path)
    assert guard.table is not None and guard.table.verified
    for scenario in load_scenarios(SCENARIOS):
        request = dict(scenario.request)
        assert _decision_fields(guard.decide(request)) == _decision_fields(
            guard.decide_uncached(request)
        )


_UNMODELLED = """
@id("X-is")
@reason("An `is` test in a condition: valid Cedar, not modelled by the compiler.")
permit (principal == SafeReport::Role::"victim", action == SafeReport::Action::"view", resource)
when { principal is SafeReport::Role && !context.consent };
"""


def test_custom_pack_the_compiler_does_not_model_falls_back_to_cedar(tmp_path: Path) -> None:
    (tmp_path / "one.cedar").write_text(_UNMODELLED, encoding="utf-8")
    pack = load_pack(tmp_path)
    with pytest.raises(TableUnavailable, match="expression"):
        compile_pack(pack)
    guard = Guard.load(tmp_path)
    assert guard.table is None
    assert "no decision table" in guard.fast_path
    agree = req(
        actor_role="victim", same_org=False, holder="support_service", subject_role="victim"
    )
    differ = req(
        actor_role="victim",
        same_org=False,
        holder="support_service",
        subject_role="victim",
        consent=True,
    )
    assert guard.decide(agree).effect == "allow"  # decided by Cedar
    assert guard.decide(differ).effect == "deny"


def test_pack_too_large_for_the_node_budget_falls_back_to_cedar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from safereport.policy import guard as guard_module

    monkeypatch.setattr(compiled, "_TABLES", {})
    monkeypatch.setattr(compiled, "_REFUSED", {})
    pack = load_pack("npcc-2020-rec1")
    table, why = table_for(pack, max_nodes=50)
    assert table is None and "more than 50 nodes" in why
    monkeypatch.setattr(guard_module, "table_for", lambda p: table_for(p, max_nodes=50))
    guard = Guard(pack)
    assert guard.table is None and "more than 50 nodes" in guard.fast_path
    for scenario in load_scenarios(SCENARIOS):
        request = dict(scenario.request)
        assert _decision_fields(guard.decide(request)) == _decision_fields(
            guard.decide_uncached(request)
        )


def _corrupt(table: compiled.CompiledTable) -> tuple[Any, CategoryOutcome]:
    """Turn one allowing leaf of the table into a deny, on one path (the nodes along it copied:
    tables are read-only). Return a cell on that path and the old leaf."""
    rng = random.Random(7)
    while True:
        cell = tuple(rng.choice(domain) for domain in DOMAINS)
        path: list[tuple[int, Any]] = []
        node: Any = table.root
        while type(node) is tuple:
            path.append(node)
            node = node[1][cell[node[0]]]
        if node.allowed and path:
            break
    replacement: Any = CategoryOutcome(False, ())
    for pos, children in reversed(path):
        replacement = (pos, MappingProxyType({**children, cell[pos]: replacement}))
    table.root = replacement
    return cell, node


def test_a_corrupted_table_is_detected_by_the_proof() -> None:
    pack = load_pack("firewall")
    table = compile_pack(pack)
    cell, old = _corrupt(table)
    with pytest.raises(TableMismatch) as caught:
        verify(table, pack)
    assert not table.verified
    found = caught.value.cell
    assert found is not None
    # the counterexample is real: Cedar answers differently from the corrupted table there
    assert cedar_leaves(pack, [found])[0] != table.lookup(found)
    assert cedar_leaves(pack, [cell])[0] == old


def test_a_corrupted_table_is_caught_by_the_cedar_spot_check_too() -> None:
    pack = load_pack("npcc-2020")
    table = compile_pack(pack)
    _corrupt(table)
    with pytest.raises(TableMismatch, match="differs from Cedar"):
        compiled._check_with_cedar(table, pack, samples=0)  # its leaf cells cover every leaf


def test_a_proved_table_cannot_be_changed_and_a_wrong_one_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pack = load_pack("firewall-consent")
    good = Guard(pack)
    assert good.table is not None
    root = good.table.root
    assert type(root) is tuple
    with pytest.raises(TypeError):
        root[1][next(iter(root[1]))] = CategoryOutcome(True, ())  # type: ignore[index]
    # a compiler that produces a wrong table leaves the guard on Cedar
    monkeypatch.setattr(compiled, "_TABLES", {})
    monkeypatch.setattr(compiled, "_REFUSED", {})
    real = compiled.compile_pack

    def broken(pack: Any, max_nodes: int = compiled.DEFAULT_MAX_NODES) -> Any:
        table = real(pack, max_nodes)
        _corrupt(table)
        return table

    monkeypatch.setattr(compiled, "compile_pack", broken)
    fallback = Guard(pack)
    assert fallback.table is None and "differs" in fallback.fast_path
    for scenario in load_scenarios(SCENARIOS):
        request = dict(scenario.request)
        assert _decision_fields(fallback.decide(request)) == _decision_fields(
            fallback.decide_uncached(request)
        )


INVALID = [
    (lambda r: r["context"].update(consent=1), "context.consent: must be true or false"),
    (lambda r: r["actor"].update(same_org="yes"), "actor.same_org: must be true or false"),
    (lambda r: r.update(action="delete"), "action: 'delete' is not one of"),
    (lambda r: r.update(data=[]), "data: must name at least one category"),
    (lambda r: r.update(data=["identity", "dna"]), "data: 'dna' is not one of"),
    (lambda r: r.update(data=[["identity"]]), "data: must be text, not list"),  # unhashable
    (lambda r: r.update(data="identity"), "data: must be a list, not str"),
    (lambda r: r.pop("holder"), "request: missing field(s): holder"),
    (lambda r: r.update(extra=True), "request: unknown field(s): extra"),
    (lambda r: r.update(recipient="police"), "recipient: must be none for view"),
    (lambda r: r.update(holder="support_service"), "actor.same_org: a police_officer belongs"),
]


@pytest.mark.parametrize(("break_it", "message"), INVALID)
def test_invalid_requests_are_denied_with_their_reason_on_the_table_path(
    break_it: Any, message: str
) -> None:
    guard = Guard.load("firewall")
    assert guard.table is not None
    request = req()
    break_it(request)
    for _ in range(2):  # and never memoised as anything else
        decided = guard.decide(request)
        assert decided.effect == "deny"
        assert decided.rules == ("C-default",)
        assert decided.reasons[0].startswith("Invalid request: " + message)
        assert _decision_fields(decided) == _decision_fields(guard.decide_uncached(request))
    assert guard.decide_many([request])[0].reasons == decided.reasons


def test_an_error_in_the_table_path_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = Guard(load_pack("firewall"))
    assert guard.table is not None

    monkeypatch.setattr(guard.table, "root", (0, MappingProxyType({})))  # every lookup fails
    decided = guard.decide(req())
    assert decided.effect == "deny" and decided.rules == ("C-default",)
    assert "Evaluation error" in decided.reasons[0]
    assert guard.decide_many([req()])[0].effect == "deny"
    monkeypatch.undo()
    assert guard.decide(req()).effect == "allow"  # the failure was not memoised
