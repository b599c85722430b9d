"""Fixtures for the web tests: the staff world (tests/support/staff_world.py), on SQLite and
PostgreSQL. tests/web/victim/ has the victim's world under the same names."""

from __future__ import annotations

from tests.support.staff_world import npcc_world, sqlite_world, world

__all__ = ["npcc_world", "sqlite_world", "world"]
