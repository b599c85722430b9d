"""Fixtures for the victim's pages: her world (tests/support/victim_world.py), not the staff's."""

from __future__ import annotations

from tests.support.victim_world import sqlite_world, world

__all__ = ["sqlite_world", "world"]
