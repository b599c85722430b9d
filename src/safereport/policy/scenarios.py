"""Scenario files (POLICY.md section 5): read them strictly, and check a guard against them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from safereport.domain.vocabulary import Effect, Obligation
from safereport.errors import InvalidInput
from safereport.policy.decision import Decision
from safereport.policy.guard import Guard

__all__ = ["Scenario", "ScenarioResult", "check_scenario", "load_scenarios"]

_ITEM_FIELDS = frozenset({"id", "title", "request", "expect", "obligations"})


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    request: Mapping[str, Any]
    expect: Mapping[str, Effect]
    obligations: Mapping[str, frozenset[Obligation]]


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    regime: str
    decision: Decision
    passed: bool

    def line(self) -> str:
        got = _describe(self.decision.effect, self.decision.obligations)
        status = "PASS" if self.passed else "FAIL"
        text = f"{status} {self.scenario.id} [{self.regime}] {got}"
        if not self.passed:
            want = _describe(
                self.scenario.expect[self.regime], self.scenario.obligations.get(self.regime)
            )
            text += f" (expected {want}; rules {' '.join(self.decision.rules)})"
        return text


def _describe(effect: Effect, obligations: frozenset[Obligation] | None) -> str:
    if obligations:
        return f"{effect} [{', '.join(sorted(obligations))}]"
    return str(effect)


def load_scenarios(path: Path) -> list[Scenario]:
    """The scenarios of ``path``; :class:`InvalidInput` names the item and field at fault."""
    try:
        items = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(items, list) or not items:
        raise InvalidInput(f"{path}: must be a non-empty list of scenarios")
    scenarios = [_scenario(path, number, item) for number, item in enumerate(items, 1)]
    seen: set[str] = set()
    for scenario in scenarios:
        if scenario.id in seen:
            raise InvalidInput(f"{path}: item {scenario.id!r}: field 'id': duplicate id")
        seen.add(scenario.id)
    return scenarios


def _scenario(path: Path, number: int, item: object) -> Scenario:
    where = f"{path}: item {number}"
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where}: must be a mapping")
    if isinstance(item.get("id"), str) and item["id"]:
        where = f"{path}: item {item['id']!r}"
    for name in ("id", "title", "request", "expect"):
        if name not in item:
            raise InvalidInput(f"{where}: field {name!r}: missing")
    extra = sorted(str(key) for key in set(item) - _ITEM_FIELDS)
    if extra:
        raise InvalidInput(f"{where}: field {extra[0]!r}: unknown field")
    for name in ("id", "title"):
        if not isinstance(item[name], str) or not item[name]:
            raise InvalidInput(f"{where}: field {name!r}: must be non-empty text")
    if not isinstance(item["request"], Mapping):
        raise InvalidInput(f"{where}: field 'request': must be a mapping")
    expect = _expect(where, item["expect"])
    obligations = _obligations(where, item.get("obligations") or {}, expect)
    return Scenario(item["id"], item["title"], item["request"], expect, obligations)


def _expect(where: str, raw: object) -> dict[str, Effect]:
    if not isinstance(raw, Mapping) or not raw:
        raise InvalidInput(f"{where}: field 'expect': must map regime names to decisions")
    expect: dict[str, Effect] = {}
    for regime, effect in raw.items():
        try:
            expect[str(regime)] = Effect(effect)
        except ValueError:
            raise InvalidInput(
                f"{where}: field 'expect.{regime}': {effect!r} is not allow, deny or conditional"
            ) from None
    return expect


def _obligations(
    where: str, raw: object, expect: Mapping[str, Effect]
) -> dict[str, frozenset[Obligation]]:
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where}: field 'obligations': must map regime names to lists")
    result: dict[str, frozenset[Obligation]] = {}
    for regime, names in raw.items():
        field = f"{where}: field 'obligations.{regime}'"
        if str(regime) not in expect:
            raise InvalidInput(f"{field}: regime has no expected decision")
        if not isinstance(names, list):
            raise InvalidInput(f"{field}: must be a list")
        try:
            result[str(regime)] = frozenset(Obligation(name) for name in names)
        except ValueError:
            raise InvalidInput(f"{field}: unknown obligation in {names!r}") from None
    return result


def check_scenario(scenario: Scenario, guard: Guard, regime: str) -> ScenarioResult:
    """Decide the scenario with ``guard``, against its expectation under ``regime``."""
    decision = guard.decide(scenario.request)
    passed = decision.effect == scenario.expect[regime]
    wanted = scenario.obligations.get(regime)
    if wanted is not None:
        passed = passed and decision.obligations == wanted
    return ScenarioResult(scenario, regime, decision, passed)
