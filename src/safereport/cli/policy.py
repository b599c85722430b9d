"""Commands: ``safereport policy check|decide|prove|diff|explain``.

None of them needs an instance: ``--regime`` takes a built-in regime name or a folder of
``.cedar`` files; without it, the instance's configured regime is used if the data directory
has a configuration, else ``firewall``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from safereport.config import CONFIG_FILE, load_settings
from safereport.domain.vocabulary import Regime
from safereport.policy.decision import Decision
from safereport.policy.guard import Guard

__all__ = ["commands"]

_REGIME_HELP = (
    "A built-in regime (firewall, firewall-consent, npcc-2020, npcc-2020-rec1) "
    "or a folder of .cedar files."
)


def _default_regime(ctx: click.Context) -> str:
    data_dir = Path((ctx.find_root().obj or {}).get("data_dir", "."))
    if (data_dir / CONFIG_FILE).is_file():
        return load_settings(data_dir).regime or Regime.FIREWALL.value
    return Regime.FIREWALL.value


def _guard(ctx: click.Context, regime: str | None) -> Guard:
    return Guard.load(regime or _default_regime(ctx))


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "decision": decision.effect.value,
        "obligations": sorted(ob.value for ob in decision.obligations),
        "rules": list(decision.rules),
    }


@click.group("policy")
def policy() -> None:
    """The firewall policy: check scenarios, decide requests, prove properties."""


@policy.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--regime", help=_REGIME_HELP)
def check_command(file: Path, regime: str | None) -> None:
    """Decide every scenario of FILE; exit 1 if any fails, 2 if the file is invalid."""
    from safereport.policy.scenarios import check_scenario, load_scenarios

    scenarios = load_scenarios(file)
    guards: dict[str, Guard] = {}
    passed = failed = 0
    only = Guard.load(regime) if regime else None
    for scenario in scenarios:
        for name in _regimes_to_check(scenario.expect, regime, only):
            guard = only or guards.get(name) or guards.setdefault(name, Guard.load(name))
            result = check_scenario(scenario, guard, name)
            click.echo(result.line())
            passed, failed = passed + result.passed, failed + (not result.passed)
    click.echo(f"{passed} passed, {failed} failed")
    if failed:
        sys.exit(1)


def _regimes_to_check(expect: Iterable[str], regime: str | None, only: Guard | None) -> list[str]:
    names = list(expect)
    if regime is None or only is None:
        return names
    aliases = {regime, only.regime, Path(regime).name, only.regime.removeprefix("custom:")}
    return [name for name in names if name in aliases]


@policy.command("decide")
@click.option("--regime", help=_REGIME_HELP)
@click.option("--jsonl", is_flag=True, help="One request per line in, one decision per line out.")
@click.pass_context
def decide_command(ctx: click.Context, regime: str | None, jsonl: bool) -> None:
    """Decide a request given as JSON on stdin."""
    guard = _guard(ctx, regime)
    stream = sys.stdin
    if not jsonl:
        click.echo(json.dumps(decision_json(guard.decide(_parse_json(stream.read())))))
        return
    for line in stream:
        if line.strip():
            click.echo(json.dumps(decision_json(guard.decide(_parse_json(line)))))


def _parse_json(text: str) -> Any:
    # Unreadable JSON is an invalid request: the guard denies it with the reason.
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"invalid JSON": text[:80]}


@policy.command("prove")
@click.option("--regime", help=_REGIME_HELP + " Default: all four built-in regimes.")
@click.option(
    "--properties",
    help="Property ids (P1,P3) or a built-in regime name whose properties to prove.",
)
def prove_command(regime: str | None, properties: str | None) -> None:
    """Prove properties P1-P8 of POLICY.md section 4 over every valid request."""
    from safereport.policy.prove import admitted_request_count, prove, resolve_properties

    targets = [regime] if regime else [r.value for r in Regime]
    total = admitted_request_count()
    failed = False
    for target in targets:
        guard = Guard.load(target)
        chosen = resolve_properties(properties, guard.regime)
        started = time.perf_counter()
        for result in prove(guard, chosen):
            if result.holds:
                click.echo(f"PROVED {guard.regime} {result.id}: {result.text}")
                continue
            failed = True
            click.echo(f"FAILED {guard.regime} {result.id}: {result.text}")
            click.echo("counterexample: " + json.dumps(result.counterexample))
            click.echo("decision: " + json.dumps(decision_json(result.decision)))
        click.echo(
            f"{guard.regime}: {len(chosen)} properties checked by z3 over all {total:,} "
            f"requests the vocabulary admits, per category as POLICY.md section 2 "
            f"({time.perf_counter() - started:.1f} s); counterexamples confirmed by Cedar"
        )
    if failed:
        sys.exit(1)


@policy.command("diff")
@click.argument("regime_a")
@click.argument("regime_b")
def diff_command(regime_a: str, regime_b: str) -> None:
    """The requests REGIME_A and REGIME_B decide differently, grouped and counted."""
    from safereport.policy.diff import diff_regimes

    a, b = Guard.load(regime_a), Guard.load(regime_b)
    groups = total = 0
    for group in diff_regimes(a, b):
        groups += 1
        total += group.count
        shape = ", ".join(f"{k}={v}" for k, v in group.shape.items())
        count = f"{group.count:,}" if group.exact else f">= {group.count:,}"
        click.echo(f"[{shape}] {count} single-category requests differ")
        click.echo(f"  {a.regime}: {json.dumps(decision_json(group.decision_a))}")
        click.echo(f"  {b.regime}: {json.dumps(decision_json(group.decision_b))}")
        click.echo(f"  example: {json.dumps(group.example)}")
    click.echo(
        f"{groups} groups, {total:,} single-category requests decided differently "
        f"by {a.regime} and {b.regime}"
    )


@policy.command("explain")
@click.option("--regime", help=_REGIME_HELP)
@click.pass_context
def explain_command(ctx: click.Context, regime: str | None) -> None:
    """The rules of a regime in plain English, from its policy files."""
    guard = _guard(ctx, regime)
    click.echo(f"Regime {guard.regime} (policy hash {guard.policy_hash[:16]}):")
    for rule in guard.explain():
        click.echo(f"- {rule.id} ({rule.kind}): {rule.text}")


commands: list[click.Command] = [policy]
