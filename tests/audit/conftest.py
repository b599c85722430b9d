"""Fixtures for the audit tests: the staff tests' real instance, with staff."""

from __future__ import annotations

from tests.staff.conftest import _fast_argon2, sqlite_world, world

__all__ = ["_fast_argon2", "sqlite_world", "world"]
