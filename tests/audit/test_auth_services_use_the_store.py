"""Audit (issue 12): the staff-account services keep their SQL in typed store queries.

The account, sign-in, session, second-factor and administration services build no statement
and run none: they call functions in ``store/`` that return typed rows, and import nothing
from SQLAlchemy but the connection's type.
"""

from __future__ import annotations

import ast
import re

import pytest
from tests.support.paths import SRC

SERVICES = ("auth", "accounts", "signin", "sessions", "totp", "users", "setup", "instance")
_SQL = re.compile(r"\b(select|insert|update|delete|text|and_|or_)\(|\.execute\(|"
                  r"exec_driver_sql|\bfunc\.")


def _sql_in(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if _SQL.search(line)]


def _sqlalchemy_names(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("sqlalchemy"))
    return names


@pytest.mark.parametrize("name", SERVICES)
def test_the_service_runs_no_sql_of_its_own(name: str) -> None:
    source = (SRC / "services" / f"{name}.py").read_text(encoding="utf-8")
    assert _sql_in(source) == []
    assert _sqlalchemy_names(source) <= {"sqlalchemy.Connection", "sqlalchemy.Engine"}


def test_the_check_sees_inline_sql() -> None:
    sample = ("from sqlalchemy import Connection, select\n"
              "row = conn.execute(select(users).where(users.c.id == user_id)).first()\n")
    assert len(_sql_in(sample)) == 1
    assert "sqlalchemy.select" in _sqlalchemy_names(sample)
