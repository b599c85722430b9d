"""The policy commands: exit codes, output shapes, and that docs/policy.md covers them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from tests.policy.test_requests import SCENARIOS
from tests.support.paths import ROOT
from tests.support.policy_helpers import req

from safereport.cli import main

DOC = ROOT / "docs" / "policy.md"


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["policy", *args], input=input)
    return result.exit_code, result.output


def test_check_public_scenarios_passes() -> None:
    code, out = run("check", str(SCENARIOS))
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "52 passed, 0 failed"


def test_check_one_regime() -> None:
    code, out = run("check", str(SCENARIOS), "--regime", "npcc-2020-rec1")
    assert code == 0
    assert out.strip().splitlines()[-1] == "13 passed, 0 failed"
    assert all("[npcc-2020-rec1]" in line for line in out.splitlines()[:-1])


def test_check_failing_scenario_exits_1(tmp_path: Path) -> None:
    items = yaml.safe_load(SCENARIOS.read_text())
    items[0]["expect"]["firewall"] = "allow"
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(items))
    code, out = run("check", str(path))
    assert code == 1
    assert "FAIL pnc-status-only [firewall] deny (expected allow" in out
    assert out.strip().splitlines()[-1] == "51 passed, 1 failed"


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda items: items[1].pop("title"), "item 'pnc-risk-check': field 'title'"),
        (lambda items: items[2]["expect"].update(firewall="maybe"), "field 'expect.firewall'"),
        (lambda items: items[3].update(request=[1]), "field 'request'"),
        (lambda items: items[4]["obligations"].update(firewall=["tea"]), "obligations.firewall"),
        (lambda items: items[5].update(colour="red"), "field 'colour'"),
    ],
)
def test_check_invalid_file_exits_2_naming_item_and_field(
    tmp_path: Path, mutate: object, named: str
) -> None:
    items = yaml.safe_load(SCENARIOS.read_text())
    mutate(items)  # type: ignore[operator]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(items))
    code, out = run("check", str(path))
    assert code == 2
    assert named in out


def test_check_unreadable_yaml_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("- id: [unclosed\n")
    assert run("check", str(path))[0] == 2


def test_decide_one_request() -> None:
    request = req(action="database_check")
    code, out = run("decide", "--regime", "firewall", input=json.dumps(request))
    assert code == 0
    assert json.loads(out) == {
        "decision": "conditional",
        "obligations": ["redact_immigration"],
        "rules": ["C-checks", "F-redacted-checks"],
    }


def test_decide_default_regime_comes_from_the_instance(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('regime = "npcc-2020"\n')
    request = json.dumps(req(data=["nationality"]))
    result = CliRunner().invoke(
        main, ["--data-dir", str(tmp_path), "policy", "decide"], input=request
    )
    assert json.loads(result.output)["decision"] == "allow"
    result = CliRunner().invoke(
        main, ["--data-dir", str(tmp_path / "none"), "policy", "decide"], input=request
    )
    assert json.loads(result.output)["decision"] == "deny"  # firewall: F-sealed


def test_decide_jsonl_keeps_order_and_denies_junk() -> None:
    lines = [json.dumps(req()), "not json", json.dumps({"actor": 1}), json.dumps(req())]
    code, out = run("decide", "--jsonl", "--regime", "npcc-2020", input="\n".join(lines))
    assert code == 0
    decisions = [json.loads(line)["decision"] for line in out.splitlines()]
    assert decisions == ["allow", "deny", "deny", "allow"]


def test_prove_all_builtin_regimes() -> None:
    code, out = run("prove")
    assert code == 0, out
    for regime in ("firewall", "firewall-consent", "npcc-2020", "npcc-2020-rec1"):
        assert f"{regime}: " in out
    assert "PROVED firewall-consent P7" in out
    assert "82,729,979,904 requests" in out


def test_prove_properties_option() -> None:
    code, out = run("prove", "--regime", "npcc-2020", "--properties", "firewall")
    assert code == 1
    assert "FAILED npcc-2020 P1" in out
    assert run("prove", "--regime", "npcc-2020", "--properties", "P3,P6")[0] == 0
    assert run("prove", "--regime", "npcc-2020", "--properties", "P9")[0] == 2


def test_diff_groups_counts_and_examples() -> None:
    code, out = run("diff", "npcc-2020", "npcc-2020-rec1")
    assert code == 0
    assert "2 groups, 320 single-category requests" in out
    assert "SubjectRole=victim" in out and "SubjectRole=witness" in out
    assert '"status_evidence": "doubts_only"' in out


def test_explain_is_generated_from_the_policy_files() -> None:
    code, out = run("explain", "--regime", "npcc-2020-rec1")
    assert code == 0
    assert "- R1-doubts (deny): Deny when the actor is police officer" in out
    assert "N-contact-ie" in out
    assert "F-firewall" not in out


def test_unknown_regime_exits_2() -> None:
    code, out = run("explain", "--regime", "no-such-regime")
    assert code == 2
    assert "not a built-in regime" in out


def test_docs_mention_every_command() -> None:
    text = DOC.read_text(encoding="utf-8")
    for command in ("check", "decide", "prove", "diff", "explain"):
        assert f"safereport policy {command}" in text
