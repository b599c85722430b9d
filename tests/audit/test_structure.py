"""Audit: the one road, checked over the source (I1). A new decryption site fails here first."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from tests.support.paths import SRC


def _files_using(pattern: str) -> set[str]:
    found = set()
    for path in SRC.rglob("*.py"):
        if re.search(pattern, path.read_text(encoding="utf-8")):
            found.add(path.relative_to(SRC).as_posix())
    return found


#: The road (DESIGN.md section 3): the only service module that asks the guard, appends to the
#: ledger, asks it for a capability, or calls the vault's open and seal operations.
ROAD = "services/access.py"


@pytest.mark.parametrize(
    ("pattern", "allowed"),
    [
        # Decrypting and sealing case data: the road, through the vault (which checks the
        # Grant or the Seal). Services open and seal through the road's functions and Write.
        (r"\.vault\.(open_fields|open_blob|seal_fields|seal_blob|create_case_key|"
         r"seal_new_cases)\(", {ROAD}),
        (r"\.open_fields\(", {ROAD, "vault/vault.py"}),
        # Minting the capabilities: the guard makes Decisions, the ledger Grants and Seals.
        (r"\b_mint_decision\b", {"policy/decision.py", "policy/guard.py"}),
        (r"\b_mint_grant\b", {"policy/decision.py", "ledger/log.py"}),
        (r"\b_mint_seal\b", {"policy/decision.py", "ledger/log.py"}),
        # A capability is asked of the ledger on the road only.
        (r"\.ledger\.(grant|seal)\(", {ROAD}),
        # Deciding and recording: the guard is asked, and its answer appended, on the road.
        (r"\.guard\.(decide|refuse|decide_many)\(", {ROAD}),
        (r"\.ledger\.(append|append_many|append_in|commit|commit_many)\(",
         {ROAD, "ledger/sequencer.py"}),
        # A new case is written in one place, whichever door it came in by (issue 12).
        (r"\bcases\.insert\(|\binsert\(cases\)", {"store/cases.py"}),
        (r"\breports\.insert\(|\binsert\(reports\)", {"store/cases.py"}),
        # Test doubles never reach production code.
        (r"\bUnsafeGrantForTests\(", {"policy/decision.py"}),
        (r"\bUnsafeSealForTests\(", {"policy/decision.py"}),
        (r"\bUnsafeMemoryKeyStore\(", {"vault/keystore.py"}),
    ],
)
def test_sensitive_calls_stay_where_they_belong(pattern: str, allowed: set[str]) -> None:
    assert _files_using(pattern) <= allowed, pattern


def test_every_open_blob_on_the_road_uses_a_grant_from_access_case() -> None:
    for path in sorted((SRC / "services").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        calls = list(re.finditer(r"(?<![.\w])open_blob\(\s*instance,\s*conn,\s*([\w.]+)", text))
        for call in calls:
            assert call.group(1) in ("grant", "access.grant"), (path.name, call.group(1))
        if calls:
            assert "access_case(" in text or "access_case_parts(" in text, path.name


def _imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


#: Outside the policy package, who may import the guard itself: the instance (which loads it)
#: and the policy command (prove, check, explain over the request space, never a case).
GUARD_IMPORTERS = {"services/instance.py", "cli/policy.py"}


def test_no_module_outside_the_road_imports_the_guard_or_the_mints() -> None:
    bad = {}
    for path in SRC.rglob("*.py"):
        name = path.relative_to(SRC).as_posix()
        if name.startswith("policy/"):
            continue
        imported = _imports_of(path)
        wrong = {i for i in imported if i.startswith("safereport.policy.guard")}
        if name in GUARD_IMPORTERS:
            wrong = set()
        wrong |= {i for i in imported if i.rsplit(".", 1)[-1] in
                  ("_mint_grant", "_mint_seal", "_mint_decision")
                  and name != "ledger/log.py"}
        if wrong:
            bad[name] = sorted(wrong)
    assert bad == {}


def test_the_scanner_sees_a_write_that_skips_the_road(tmp_path: Path) -> None:
    """The patterns above would catch a service that seals or appends by itself."""
    sample = ("instance.vault.seal_fields(conn, seal, case_id, values)\n"
              "instance.ledger.append(conn, decision, actor_id='x', case_id=None)\n"
              "instance.guard.decide(request)\n")
    caught = [pattern for pattern in (
        r"\.vault\.(open_fields|open_blob|seal_fields|seal_blob|create_case_key|"
        r"seal_new_cases)\(",
        r"\.ledger\.(append|append_many|append_in|commit|commit_many)\(",
        r"\.guard\.(decide|refuse|decide_many)\(",
    ) if re.search(pattern, sample)]
    assert len(caught) == 3


# ---- the store layer used (issue 12): no service holds SQL -----------------------------------

_SQL_CALLS = {"execute", "exec_driver_sql", "scalar", "scalars", "execution_options"}


def _service_modules() -> list[Path]:
    return sorted((SRC / "services").rglob("*.py"))


def test_no_service_builds_or_runs_a_statement() -> None:
    """Every service queries through typed functions of the store: it imports nothing from
    SQLAlchemy but the connection and engine it passes on, and runs no statement itself."""
    bad: dict[str, list[str]] = {}
    for path in _service_modules():
        name = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                extra = {a.name for a in node.names} - {"Connection", "Engine"}
                if extra or node.module != "sqlalchemy":
                    bad.setdefault(name, []).append(f"imports {sorted(extra)} from {node.module}")
            elif isinstance(node, ast.Import) and any(
                a.name.startswith("sqlalchemy") for a in node.names
            ):
                bad.setdefault(name, []).append("imports sqlalchemy")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in _SQL_CALLS):
                bad.setdefault(name, []).append(f"calls .{node.func.attr}() at {node.lineno}")
    assert bad == {}


def test_no_service_holds_a_table_or_a_statement() -> None:
    """At run time too: no service module keeps a table, a column or a built statement."""
    import importlib

    from sqlalchemy import Table
    from sqlalchemy.sql import ClauseElement

    found = {}
    for path in _service_modules():
        dotted = "safereport." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        module = importlib.import_module(dotted.removesuffix(".__init__"))
        held = sorted(name for name, value in vars(module).items()
                      if isinstance(value, Table | ClauseElement))
        if held:
            found[dotted] = held
    assert found == {}


def test_the_sql_scanner_sees_a_service_that_queries() -> None:
    source = ("from sqlalchemy import Connection, select\n"
              "def f(conn: Connection) -> None:\n"
              "    conn.execute(select(1))\n")
    tree = ast.parse(source)
    calls = [n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Attribute) and n.func.attr in _SQL_CALLS]
    imports = [a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               for a in n.names if a.name not in {"Connection", "Engine"}]
    assert calls == ["execute"] and imports == ["select"]


def test_no_module_tells_errors_apart_by_their_message() -> None:
    """A refusal's kind is its class (NotFound, PackageExpired, ...), never its wording."""
    pattern = r"str\(exc\)\s*(in|==)\s|str\(exc\)\.startswith\("
    assert _files_using(pattern) == set()
