"""Audit: casework, practice, intake and evidence query through the store's typed functions
(issue 12, "Store layer used"): no SQL in the service, nothing of SQLAlchemy but the
connection it passes on, and no row handed around as ``Any``."""

from __future__ import annotations

import ast
import re

import pytest
from tests.support.paths import SRC

#: Services whose every query is a typed function in ``store/``.
WITHOUT_SQL = ("services/casework.py", "services/evidence.py", "services/intake.py",
               "services/practice.py")
#: What building or running SQL looks like (a method of the same name on a dict or a path,
#: such as ``values.update(`` or ``path.read_text(``, is not SQL).
SQL = re.compile(r"(?<![.\w])(select|insert|update|delete|text|and_|or_)\(|\.execute\(|"
                 r"exec_driver_sql|(?<![.\w])func\.")


def _sqlalchemy_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("sqlalchemy"))
    return names


@pytest.mark.parametrize("name", WITHOUT_SQL)
def test_the_service_holds_no_sql(name: str) -> None:
    text = (SRC / name).read_text(encoding="utf-8")
    assert [m.group(0) for m in SQL.finditer(text)] == []
    assert _sqlalchemy_names(ast.parse(text)) <= {"sqlalchemy.Connection", "sqlalchemy.Engine"}
    assert "type: ignore" not in text


def test_the_scanner_sees_sql() -> None:
    sample = "rows = conn.execute(select(cases).where(and_(a, b)))\nfunc.max(x)\n"
    assert len(SQL.findall(sample)) == 4
    assert SQL.search("values.update(x); path.read_text(); _denial_text(e)") is None
