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
        (r"\.vault\.(open_fields|open_parts|open_blob|seal_fields|seal_blob|create_case_key|"
         r"seal_new_cases)\(", {ROAD}),
        (r"\.open_(fields|parts)\(", {ROAD, "vault/vault.py"}),
        # Nothing else of the vault either, but its key store (for the short-lived boxes of
        # drafts and return sessions, which hold no case): finding cases by a blind index,
        # indexing a value, destroying a case go through the road too (issue 12).
        (r"\.vault\.(?!keys\b)\w+\(", {ROAD}),
        # Who has seen her case: read through the road, from the signed leaves.
        (r"\.ledger\.entries_for_case\(", {ROAD}),
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


# ---- seams, not patched globals (issue 12) ---------------------------------------------------

_PATCHED_TIME = re.compile(
    r"monkeypatch\.setattr\([^,]+,\s*\"(clock|now|time|monotonic|utcnow|sleep)\"")


def test_time_is_a_seam_no_test_patches_a_clock() -> None:
    """Time reaches the code through a Clock (services/clock.py) handed to it: the scheduler,
    retention and the app (``create_app(clock=...)``) take one. No test swaps a module's
    clock for its own, and no module keeps one to be swapped."""
    tests = Path(__file__).resolve().parents[1]
    patched = sorted(path.relative_to(tests).as_posix() for path in tests.rglob("*.py")
                     if _PATCHED_TIME.search(path.read_text(encoding="utf-8")))
    assert patched == []
    kept = []
    for path in SRC.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute)
                    and node.value.attr in ("time", "monotonic", "now")):
                kept.append(f"{path.relative_to(SRC).as_posix()}:{node.lineno}")
    assert kept == []


#: What of the ledger a module off the road may use: the public, signed log (its size, its
#: checkpoints, an entry's leaf, verifying it, its key to sign a release) and the process's
#: own handles on it. Every read of a case's entries, every append, grant and seal is the
#: road's (issue 12: services stop touching the guard, the ledger and the vault directly).
PUBLIC_LOG = {"size", "verify", "checkpoint", "sign_checkpoint", "verifier_key", "entry",
              "signer", "close", "sequencer"}


def test_off_the_road_only_the_public_log_is_read() -> None:
    used: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        name = path.relative_to(SRC).as_posix()
        if name == ROAD or name.startswith("ledger/"):
            continue
        for match in re.finditer(r"\b\w+\.ledger\.(\w+)\b(?!\s*import)",
                                 path.read_text(encoding="utf-8")):
            if match.group(0).startswith("safereport."):
                continue  # a module path (safereport.ledger.x), not the instance's ledger
            if match.group(1) not in PUBLIC_LOG:
                used.setdefault(name, set()).add(match.group(1))
    assert used == {}


# ---- the store's rows are typed (issue 12) ----------------------------------------------------

#: Names a public store function's return annotation may not mention: rows come back as the
#: store's own dataclasses, never as SQLAlchemy's rows or results, nor as ``Any``.
_UNTYPED_ROWS = {"Any", "CursorResult", "Row", "RowMapping"}


def _untyped_returns(tree: ast.Module) -> list[str]:
    found = []
    for node in tree.body:
        if (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and not node.name.startswith("_") and node.returns is not None):
            names = {n.id if isinstance(n, ast.Name) else n.attr
                     for n in ast.walk(node.returns) if isinstance(n, ast.Name | ast.Attribute)}
            # A string annotation (``"Row[Any]"``) is read as the expression it names.
            names |= {m for c in ast.walk(node.returns) if isinstance(c, ast.Constant)
                      and isinstance(c.value, str) for m in re.findall(r"\w+", c.value)}
            if names & _UNTYPED_ROWS:
                found.append(f"{node.name}: {ast.unparse(node.returns)}")
    return found


def test_every_store_query_returns_typed_rows() -> None:
    bad = {}
    for path in sorted((SRC / "store").glob("*.py")):
        found = _untyped_returns(ast.parse(path.read_text(encoding="utf-8")))
        if found:
            bad[path.name] = found
    assert bad == {}


def test_the_row_scanner_sees_an_untyped_query() -> None:
    source = ("def a(conn) -> RowMapping | None: ...\n"
              "def b(conn) -> Sequence[sqlalchemy.Row[Any]]: ...\n"
              "def c(conn) -> 'list[Any]': ...\n"
              "def _private(conn) -> Any: ...\n"
              "def typed(conn) -> list[CaseRow]: ...\n")
    assert [f.split(":")[0] for f in _untyped_returns(ast.parse(source))] == ["a", "b", "c"]
