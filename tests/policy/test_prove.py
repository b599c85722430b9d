"""The prover: built-in regimes hold; broken custom regimes are caught; z3 agrees with Cedar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import z3
from click.testing import CliRunner
from tests.policy.test_fast_path import random_requests
from tests.support.policy_helpers import REGIMES

from safereport.cli import main
from safereport.errors import PolicyError
from safereport.policy.guard import Guard
from safereport.policy.prove import REGIME_PROPERTIES, prove, resolve_properties
from safereport.policy.regimes import builtin_sources
from safereport.policy.smt import RequestVars, encode

BAD_PERMIT = """
@id("X-police-to-ie")
@reason("broken on purpose")
permit (principal == SafeReport::Role::"police_officer", action == SafeReport::Action::"disclose",
        resource == SafeReport::Category::"identity")
when { context.recipient == SafeReport::Recipient::"immigration_enforcement" };
"""


def write_regime(folder: Path, sources: dict[str, str]) -> Path:
    folder.mkdir()
    for name, text in sources.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def broken_firewall(tmp_path: Path) -> Path:
    """The firewall without F-firewall and F-purpose, plus a permit for police to IE."""
    sources = builtin_sources("firewall")
    strict = next(name for name in sources if name.endswith("firewall-strict.cedar"))
    sealed_only = sources[strict][sources[strict].index('@id("F-sealed")') :]
    sources[strict] = sealed_only
    sources["99-bad.cedar"] = BAD_PERMIT
    return write_regime(tmp_path / "broken", sources)


@pytest.mark.parametrize("regime", REGIMES)
def test_builtin_regimes_hold_their_properties(regime: str) -> None:
    results = prove(Guard.load(regime), resolve_properties(None, regime))
    assert [r.id for r in results] == list(REGIME_PROPERTIES[regime])  # type: ignore[index]
    assert all(r.holds for r in results), [r for r in results if not r.holds]


def test_npcc_fails_the_firewall_properties_with_confirmed_counterexamples() -> None:
    guard = Guard.load("npcc-2020")
    results = {r.id: r for r in prove(guard, resolve_properties("firewall", guard.regime))}
    assert not results["P1"].holds
    assert not results["P2"].holds
    assert results["P3"].holds
    example = results["P1"].counterexample
    assert example is not None
    assert example["recipient"] == "immigration_enforcement"
    assert guard.decide(example).allowed  # Cedar agrees


def test_broken_custom_regime_fails_prove_with_a_counterexample(tmp_path: Path) -> None:
    folder = broken_firewall(tmp_path)
    result = CliRunner().invoke(main, ["policy", "prove", "--regime", str(folder)])
    assert result.exit_code == 1, result.output
    assert "FAILED custom:broken P1" in result.output
    line = next(x for x in result.output.splitlines() if x.startswith("counterexample: "))
    example = json.loads(line.removeprefix("counterexample: "))
    assert example["recipient"] == "immigration_enforcement"
    assert example["subject"]["role"] in ("victim", "witness")
    assert Guard.load(folder).decide(example).allowed


def test_custom_regime_with_every_rule_proves(tmp_path: Path) -> None:
    folder = write_regime(tmp_path / "copy", builtin_sources("firewall"))
    result = CliRunner().invoke(main, ["policy", "prove", "--regime", str(folder)])
    assert result.exit_code == 0, result.output
    assert "PROVED custom:copy P1" in result.output


def test_invalid_custom_regime_is_refused_with_the_validator_message(tmp_path: Path) -> None:
    typo = BAD_PERMIT.replace('Recipient::"immigration_enforcement"', 'Recipient::"home_office"')
    folder = write_regime(tmp_path / "typo", {"a.cedar": typo})
    with pytest.raises(PolicyError, match="home_office"):
        Guard.load(folder)
    result = CliRunner().invoke(main, ["policy", "decide", "--regime", str(folder)], input="{}")
    assert result.exit_code == 2
    assert "do not validate" in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("permit (principal, action, resource);", "no @id"),
        ('@id("X") @obligations("tea") permit (principal, action, resource);', "obligation"),
        ('@id("X") forbid (principal, action, resource', "parse"),
    ],
)
def test_malformed_custom_regimes_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        Guard.load(write_regime(tmp_path / "bad", {"a.cedar": text}))


def test_empty_or_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError):
        Guard.load(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolicyError, match=r"\.cedar"):
        Guard.load(tmp_path / "empty")


@pytest.mark.parametrize("regime", REGIMES)
def test_z3_model_agrees_with_cedar(regime: str) -> None:
    """The prover's translation decides 400 random requests exactly as the guard does."""
    guard = Guard.load(regime)
    v = RequestVars.fresh()
    formulas = encode(guard.pack, v)
    solver = z3.Solver()
    for request in random_requests(seed=7, count=400, pool=400):
        decided = guard.decide(request)
        if decided.reasons[0].startswith("Invalid"):
            continue
        solver.push()
        solver.add(*_pin(v, request))
        assert solver.check() == z3.sat
        model = solver.model()
        assert z3.is_true(model.eval(formulas.allowed, True)) == decided.allowed, request
        for obligation, term in formulas.obligations.items():
            assert z3.is_true(model.eval(term, True)) == (obligation in decided.obligations)
        solver.pop()


def _pin(v: RequestVars, request: dict[str, object]) -> list[object]:
    from safereport.policy.request import parse_request

    p = parse_request(request)
    enums = {
        "Role": ("Role", p.actor_role), "Action": ("Action", p.action),
        "Holder": ("Holder", p.holder), "Purpose": ("Purpose", p.purpose),
        "Recipient": ("Recipient", p.recipient), "SubjectRole": ("SubjectRole", p.subject_role),
        "CrimeType": ("CrimeType", p.crime_type),
        "StatusEvidence": ("StatusEvidence", p.status_evidence),
    }  # fmt: skip
    terms: list[object] = [v.is_(kind, str(value)) for kind, value in enums.values()]
    terms += [v.flags["same_org"] == p.same_org]
    terms += [v.flags[name] == getattr(p, name) for name in v.flags if name != "same_org"]
    terms += [d == (c in p.data) for c, d in v.data.items()]
    return terms


def _without_policy(sources: dict[str, str], marker: str) -> dict[str, str]:
    """``sources`` with the one policy that starts at ``marker`` cut out (to its ``};``)."""
    for name, text in sources.items():
        if marker in text:
            start = text.index(marker)
            end = text.index("};", start) + 2
            return {**sources, name: text[:start] + text[end:]}
    raise AssertionError(f"no policy {marker!r}")


def test_v2_staff_to_ie_without_two_people_fails_p1(tmp_path: Path) -> None:
    """POLICY.md v2: a pack where her adviser alone sends her data to IE is caught by P1."""
    sources = _without_policy(
        builtin_sources("firewall"), "// v2: nothing reaches Immigration Enforcement"
    )
    sources["99-one-person.cedar"] = """
@id("C-victim-directed")
@reason("v1: one caseworker's word")
permit (principal == SafeReport::Role::"caseworker",
        action == SafeReport::Action::"disclose", resource)
when { context.same_org && context.victim_initiated && context.consent &&
       context.recipient == SafeReport::Recipient::"immigration_enforcement" &&
       context.purpose == SafeReport::Purpose::"regularisation_support" };
"""
    guard = Guard.load(write_regime(tmp_path / "v1", sources))
    results = {r.id: r for r in prove(guard, ("P1",))}
    assert not results["P1"].holds
    example = results["P1"].counterexample
    assert example is not None and example["actor"]["role"] == "caseworker"
    assert "supervisor_approval" not in {str(o) for o in guard.decide(example).obligations}


def test_v2_without_abuse_evidence_rule_fails_p8(tmp_path: Path) -> None:
    sources = _without_policy(builtin_sources("npcc-2020"), '@id("C-abuse-evidence")')
    guard = Guard.load(write_regime(tmp_path / "no-abuse-rule", sources))
    results = {r.id: r for r in prove(guard, ("P8",))}
    assert not results["P8"].holds
    example = results["P8"].counterexample
    assert example is not None and "immigration_abuse" in example["data"]
    assert guard.decide(example).allowed
