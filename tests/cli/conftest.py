"""Fixtures for the commands: her world (tests/support/victim_world.py), which
``safereport report`` files into; a test that needs the staff world imports it itself."""

from __future__ import annotations

from tests.support.victim_world import sqlite_world, world

__all__ = ["sqlite_world", "world"]
