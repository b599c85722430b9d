"""The fast path agrees with direct Cedar: on 100,000 random requests and every scenario.

The fast path is the regime's compiled decision table (first-time requests) and the memo of
whole requests (repeated ones); a guard without its table (``compiled=False``: Cedar with
memoised per-category answers, the fallback for packs that cannot be compiled) is checked too.

The reference here is written independently of the guard: its own Cedar requests (Cedar's
string form for entity ids), Cedar's batch call, and its own combination of the per-category
answers (POLICY.md section 2) from the policies' annotations.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import cedarpy
import pytest
from tests.support.policy_helpers import REGIMES

from safereport.domain.vocabulary import (
    Action,
    ActorRole,
    CrimeType,
    DataCategory,
    HolderKind,
    Purpose,
    Recipient,
    StatusEvidence,
    SubjectRole,
)
from safereport.errors import InvalidInput
from safereport.policy.guard import Guard
from safereport.policy.regimes import PolicyPack, schema_text
from safereport.policy.request import CONTEXT_FLAGS, make_request, parse_request
from safereport.policy.scenarios import load_scenarios

# A copy of shared/policy/scenarios.yaml, so that a clone on its own runs the suite;
# tests/policy/test_scenarios_copy.py keeps it equal to the shared file where that is present.
SCENARIOS = Path(__file__).resolve().parent / "data" / "scenarios.yaml"
N_REQUESTS = 100_000


def _rest(rng: random.Random) -> dict[str, Any]:
    action = rng.choice(list(Action))
    needs = action in (Action.DISCLOSE, Action.PUBLISH_STATISTICS)
    recipients = [r for r in Recipient if (r is not Recipient.NONE) == needs]
    recipient = rng.choice(recipients) if rng.random() < 0.93 else rng.choice(list(Recipient))
    rest: dict[str, Any] = {
        "actor_role": rng.choice(list(ActorRole)),
        "same_org": rng.random() < 0.7,
        "holder": rng.choice(list(HolderKind)),
        "action": action,
        "purpose": rng.choice(list(Purpose)),
        "recipient": recipient,
        "subject_role": rng.choice(list(SubjectRole)),
        "crime_type": rng.choice(list(CrimeType)),
        "status_evidence": rng.choice(list(StatusEvidence)),
    }
    rest.update({flag: rng.random() < 0.5 for flag in CONTEXT_FLAGS})
    return rest


def random_requests(seed: int, count: int, pool: int = 400) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rests = [_rest(rng) for _ in range(pool)]
    categories = list(DataCategory)
    requests = []
    for _ in range(count):
        data = rng.sample(categories, rng.choice((1, 1, 2, 3)))
        request = json.loads(json.dumps(make_request(**rng.choice(rests), data=data)))
        if rng.random() < 0.01:  # now and then a wrong type
            request["context"]["consent"] = 1
        requests.append(request)
    return requests


def _cedar(parsed: Any, category: DataCategory, single: bool) -> dict[str, Any]:
    def ent(kind: str, value: str) -> dict[str, Any]:
        return {"__entity": {"type": f"SafeReport::{kind}", "id": value}}

    return {
        "principal": f'SafeReport::Role::"{parsed.actor_role}"',
        "action": f'SafeReport::Action::"{parsed.action}"',
        "resource": f'SafeReport::Category::"{category}"',
        "context": {
            "same_org": parsed.same_org,
            "holder": ent("Holder", parsed.holder),
            "purpose": ent("Purpose", parsed.purpose),
            "recipient": ent("Recipient", parsed.recipient),
            "subject_role": ent("SubjectRole", parsed.subject_role),
            "single_category": single,
            "crime_type": ent("CrimeType", parsed.crime_type),
            "status_evidence": ent("StatusEvidence", parsed.status_evidence),
            **{flag: getattr(parsed, flag) for flag in CONTEXT_FLAGS},
        },
    }


def reference(pack: PolicyPack, requests: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(effect, obligations, rules) for each request, by direct Cedar."""
    parsed_all: list[Any] = []
    cells: dict[tuple[Any, ...], dict[str, Any]] = {}
    for request in requests:
        try:
            parsed = parse_request(request)
        except InvalidInput:
            parsed_all.append(None)
            continue
        parsed_all.append(parsed)
        for category in parsed.data:
            single = len(parsed.data) == 1
            cells[(parsed.rest_key(), category, single)] = _cedar(parsed, category, single)
    schema = cedarpy.Schema.from_str(schema_text())
    answers = cedarpy.is_authorized_batch(list(cells.values()), pack.text, "[]", schema=schema)
    by_cell = dict(zip(cells, answers, strict=True))
    out: list[tuple[Any, ...]] = []
    for parsed in parsed_all:
        if parsed is None:
            out.append(("deny", frozenset(), frozenset({"C-default"})))
            continue
        results = [by_cell[(parsed.rest_key(), c, len(parsed.data) == 1)] for c in parsed.data]
        assert all(not r.diagnostics.errors for r in results)
        denied = [r for r in results if r.decision != cedarpy.Decision.Allow]
        if denied:
            rules = {pack.policies[p].rule_id for r in denied for p in r.diagnostics.reasons}
            if any(not r.diagnostics.reasons for r in denied):
                rules.add("C-default")
            out.append(("deny", frozenset(), frozenset(rules)))
            continue
        infos = [pack.policies[p] for r in results for p in r.diagnostics.reasons]
        obligations = frozenset(str(ob) for info in infos for ob in info.obligations)
        effect = "conditional" if obligations else "allow"
        out.append((effect, obligations, frozenset(info.rule_id for info in infos)))
    return out


def _fast(guard: Guard, request: dict[str, Any]) -> tuple[Any, ...]:
    decided = guard.decide(request)
    return (
        str(decided.effect),
        frozenset(str(ob) for ob in decided.obligations),
        frozenset(decided.rules),
    )


@pytest.mark.slow
def test_fast_path_agrees_with_cedar_on_100000_random_requests() -> None:
    requests = random_requests(seed=20261125, count=N_REQUESTS)
    per_regime = N_REQUESTS // len(REGIMES)
    total = 0
    for number, regime in enumerate(REGIMES):
        chunk = requests[number * per_regime : (number + 1) * per_regime]
        guard = Guard.load(regime)
        expected = reference(guard.pack, chunk)
        for request, want in zip(chunk, expected, strict=True):
            assert _fast(guard, request) == want, request
            total += 1
        # and again, now that every answer comes from the memo
        for request, want in zip(chunk[:2000], expected[:2000], strict=True):
            assert _fast(guard, request) == want, request
    assert total >= 100_000


@pytest.mark.parametrize("regime", REGIMES)
def test_cedar_fallback_agrees_with_cedar_on_random_requests(regime: str) -> None:
    guard = Guard(Guard.load(regime).pack, compiled=False)
    assert guard.table is None
    requests = random_requests(seed=77 + REGIMES.index(regime), count=2500)
    expected = reference(guard.pack, requests)
    for _ in range(2):  # first time (Cedar) and repeated (memo)
        assert [_fast(guard, r) for r in requests] == expected


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("compiled", [True, False])
def test_fast_path_agrees_with_cedar_on_every_scenario(regime: str, compiled: bool) -> None:
    guard = Guard(Guard.load(regime).pack, compiled=compiled)
    assert (guard.table is not None) == compiled
    requests = [dict(s.request) for s in load_scenarios(SCENARIOS)]
    expected = reference(guard.pack, requests)
    for _ in range(2):  # first time (Cedar) and repeated (lookup)
        assert [_fast(guard, r) for r in requests] == expected
        assert [(str(d.effect), d.rules) for d in map(guard.decide_uncached, requests)] == [
            (str(d.effect), d.rules) for d in map(guard.decide, requests)
        ]
