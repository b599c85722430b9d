"""Invalid requests are denied with the reason, never an error; scenarios pass everywhere."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from tests.support.policy_helpers import REGIMES, guard, req

from safereport.policy.scenarios import check_scenario, load_scenarios

# A copy of shared/policy/scenarios.yaml, so that a clone on its own runs the suite;
# tests/policy/test_scenarios_copy.py keeps it equal to the shared file where that is present.
SCENARIOS = Path(__file__).resolve().parent / "data" / "scenarios.yaml"


def _changed(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    request = copy.deepcopy(req())
    target = request
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return request


_DELETE = object()

INVALID = [
    (("actor", "same_org"), 1, "actor.same_org"),
    (("actor", "same_org"), "true", "actor.same_org"),
    (("context", "consent"), 0, "context.consent"),
    (("context", "emergency"), None, "context.emergency"),
    (("actor", "role"), "police officer", "actor.role"),
    (("holder",), "home_office", "holder"),
    (("purpose",), 7, "purpose"),
    (("data",), [], "data"),
    (("data",), "identity", "data"),
    (("data",), ["identity", "passport"], "data"),
    (("context", "crime_type"), _DELETE, "crime_type"),
    (("subject",), _DELETE, "subject"),
    (("context", "extra"), True, "extra"),
    (("recipient",), "court", "recipient"),  # view with a recipient
    (("actor", "role"), "caseworker", "actor.same_org"),  # caseworker of a police holder
]


@pytest.mark.parametrize(("path", "value", "named"), INVALID)
def test_invalid_request_is_denied_with_the_reason(
    path: tuple[str, ...], value: Any, named: str
) -> None:
    for regime in REGIMES:
        decided = guard(regime).decide(_changed(path, value))
        assert decided.effect == "deny"
        assert decided.rules == ("C-default",)
        assert named in decided.reasons[0]
        assert decided.reasons[0].startswith("Invalid request")


@pytest.mark.parametrize("junk", [None, [], "view", 3, {"actor": None}])
def test_junk_is_denied_never_raised(junk: Any) -> None:
    assert guard("firewall").decide(junk).effect == "deny"


def test_cross_field_rules() -> None:
    g = guard("npcc-2020")
    assert g.decide(req(action="disclose")).reasons[0].startswith("Invalid request: recipient")
    victim_suspect = req(actor_role="victim", same_org=False, subject_role="suspect")
    assert "suspect" in g.decide(victim_suspect).reasons[0]
    # a caseworker of another organisation is not constrained by the holder
    other_org = req(actor_role="caseworker", same_org=False)
    assert g.decide(other_org).rules == ("C-default",)
    assert not g.decide(other_org).reasons[0].startswith("Invalid")


def test_duplicate_categories_are_ignored() -> None:
    decided = guard("firewall").decide(req(data=["crime_details", "crime_details"]))
    assert decided.effect == "allow"
    assert decided.categories == {"crime_details"}


def test_true_and_one_do_not_share_a_cache_entry() -> None:
    g = guard("npcc-2020")
    assert g.decide(req()).effect == "allow"
    one = req()
    one["actor"]["same_org"] = 1
    assert g.decide(one).effect == "deny"
    extra = req()
    extra["note"] = "x"
    assert g.decide(extra).effect == "deny"


@pytest.mark.parametrize("regime", REGIMES)
def test_public_scenarios_pass(regime: str) -> None:
    for scenario in load_scenarios(SCENARIOS):
        if regime in scenario.expect:
            result = check_scenario(scenario, guard(regime), regime)
            assert result.passed, result.line()


def test_cedar_errors_fail_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    from safereport.policy import guard as guard_module
    from safereport.policy.guard import Guard

    fresh = Guard(Guard.load("npcc-2020").pack, compiled=False)  # Cedar decides (no table)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine down")

    monkeypatch.setattr(guard_module.cedarpy, "is_authorized_batch", broken)
    decided = fresh.decide(req())
    assert decided.effect == "deny"
    assert "Evaluation error" in decided.reasons[0]
    monkeypatch.undo()
    assert fresh.decide(req()).effect == "allow"  # the failure was not cached


def test_an_invalid_request_asked_again_is_refused_from_memory_the_same_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request that breaks a rule (all text, flags real booleans) is refused once by the
    parser, then from memory with the very same reason (issue 13: a quarter of the benchmark's
    repeated requests were parsed again every time). The remembered refusal keeps a copy of
    the request, never the caller's dicts; a request with a non-text value is parsed every
    time (``1`` and ``1.0`` are equal keys but worded differently)."""
    from safereport.policy import guard as guard_module

    g = guard("firewall")
    bad = req()
    bad["purpose"] = "no_such_purpose"
    first = g.decide(bad)
    assert first.effect == "deny" and first.reasons[0].startswith("Invalid request")
    parsed: list[object] = []
    real = guard_module.parse_request

    def counting(request: object) -> object:
        parsed.append(request)
        return real(request)  # type: ignore[arg-type]

    monkeypatch.setattr(guard_module, "parse_request", counting)
    again = g.decide(copy.deepcopy(bad))
    assert parsed == []
    assert (again.effect, again.rules, again.reasons) == (first.effect, first.rules, first.reasons)
    bad["actor"]["role"] = "changed after"
    assert again.request["actor"]["role"] != "changed after"
    for odd in (1, 1.0):
        numbered = req()
        numbered["purpose"] = odd
        g.decide(numbered)
        g.decide(numbered)
    assert len(parsed) == 4
