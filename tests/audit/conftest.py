"""Fixtures for the audit tests: the staff tests' real instance, with staff."""

from __future__ import annotations

from tests.support.staff_world import sqlite_world, world

__all__ = ["sqlite_world", "world"]
