"""Fixtures for the audit tests: the staff tests' real instance, with staff."""

from __future__ import annotations

from tests.staff.conftest import sqlite_world, world

__all__ = ["sqlite_world", "world"]
