"""Audit (issue 12): these services hold no SQL; their queries are typed functions in store/.

A service owns its transaction (``engine.begin()``, ``engine.connect()``) and passes the
connection to store functions; it builds no statement and executes none. The store functions
it calls hand back typed rows (dataclasses, primitives), never a SQLAlchemy row nor ``Any``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from tests.support.paths import SRC

#: Services whose queries all live in store/ (add one here once it holds no SQL).
WITHOUT_SQL = (
    "access.py",
    "backup.py",
    "integrations.py",
    "notices.py",
    "oversight.py",
    "provenance.py",
    "public_forms.py",
    "quarantine.py",
    "retention.py",
    "returns.py",
    "scheduler.py",
    "synthetic.py",
)

#: Store modules holding their query functions: none returns a row untyped.
TYPED_STORE = (
    "accounts.py",
    "api_tokens.py",
    "cases.py",
    "instance_values.py",
    "jobs.py",
    "ledger.py",
    "notices.py",
    "provenance.py",
    "public_forms.py",
    "quarantine.py",
    "retention.py",
    "returns.py",
    "witnesses.py",
)

_SQLALCHEMY_ALLOWED = {"Connection", "Engine"}
_BUILDERS = {"select", "insert", "update", "delete", "text", "and_", "or_", "case"}
_EXECUTORS = {"execute", "exec_driver_sql", "scalar", "scalars"}
#: What a store function must not hand back: SQLAlchemy's rows and results, or ``Any``.
_UNTYPED = re.compile(r"\b(Any|Row|RowMapping|Result|CursorResult)\b")


def _sql_in(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names = {alias.name for alias in node.names}
            if node.module != "sqlalchemy" or names - _SQLALCHEMY_ALLOWED:
                found.append(f"line {node.lineno}: from {node.module} import {sorted(names)}")
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {alias.name}" for alias in node.names
                      if alias.name.startswith("sqlalchemy")]
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in _BUILDERS:
                found.append(f"line {node.lineno}: {func.id}(")
            elif isinstance(func, ast.Attribute) and func.attr in _EXECUTORS:
                found.append(f"line {node.lineno}: .{func.attr}(")
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "func"):
            found.append(f"line {node.lineno}: func.{node.attr}")
    return found


@pytest.mark.parametrize("name", WITHOUT_SQL)
def test_the_service_holds_no_sql(name: str) -> None:
    assert _sql_in(SRC / "services" / name) == []


def _untyped_returns(path: Path) -> list[str]:
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        returns = ast.unparse(node.returns) if node.returns is not None else "(none)"
        if returns.startswith("Select["):
            continue  # a statement for another query to build on, not rows
        if returns == "(none)" or _UNTYPED.search(returns):
            found.append(f"{node.name} -> {returns}")
    return found


@pytest.mark.parametrize("name", TYPED_STORE)
def test_store_functions_return_typed_rows(name: str) -> None:
    assert _untyped_returns(SRC / "store" / name) == []


def test_the_check_catches_inline_sql(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from sqlalchemy import Connection, select\n"
        "def f(conn: Connection) -> int:\n"
        "    return conn.execute(select(func.count())).scalar_one()\n",
        encoding="utf-8",
    )
    assert len(_sql_in(sample)) == 4  # the import, select(, .execute(, func.count
