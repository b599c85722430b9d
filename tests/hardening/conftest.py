"""Fixtures for the hardening tests (issue 14): the staff world on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.staff.conftest import npcc_world, sqlite_world, world

__all__ = ["npcc_world", "sqlite_world", "world"]
