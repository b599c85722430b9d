"""Her services hold no SQL, and the queries they use return typed rows (issue 12).

The services of her door (her case, erasure, claim, reply times, drafts, return sessions)
own their transactions and pass the connection to typed query functions in ``store/``.
"""

from __future__ import annotations

import ast
import re

import pytest
from tests.support.paths import SRC

SERVICES = ["claim", "erasure", "replies", "report_drafts", "return_sessions", "victim"]
STORES = ["consent_changes", "doors", "erasure", "messages", "reply_times", "report_drafts",
          "victim_sessions"]
_SQL = re.compile(r"\b(select|insert|update|delete|and_|or_|text)\(|\.execute\(|"
                  r"exec_driver_sql|\bfunc\.")


@pytest.mark.parametrize("name", SERVICES)
def test_her_services_hold_no_sql(name: str) -> None:
    path = SRC / "services" / f"{name}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    from_sqlalchemy = {alias.name for node in ast.walk(tree)
                       if isinstance(node, ast.ImportFrom) and node.module
                       and node.module.startswith("sqlalchemy") for alias in node.names}
    assert from_sqlalchemy <= {"Connection", "Engine"}
    code = ast.unparse(tree)  # docstrings and comments may name SQL; code may not
    found = [m.group(0) for m in _SQL.finditer(code)]
    assert found == [], found


@pytest.mark.parametrize("name", STORES)
def test_her_queries_return_typed_rows(name: str) -> None:
    tree = ast.parse((SRC / "store" / f"{name}.py").read_text(encoding="utf-8"))
    loose = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            returns = ast.unparse(node.returns) if node.returns else "missing"
            if re.search(r"\b(Any|Row|RowMapping|Mapping|missing)\b", returns):
                loose[node.name] = returns
    assert loose == {}


def test_the_scanner_sees_inline_sql() -> None:
    sample = "conn.execute(select(cases).where(and_(cases.c.id == x)))"
    assert len(_SQL.findall(sample)) == 3
