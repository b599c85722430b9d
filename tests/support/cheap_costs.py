"""Test costs through the seams (STYLE.md 15): cheap codename stretching and password hashing.

Tests hand these to the settings instead of patching module globals; production never sees
them (nothing in config.toml or the environment can choose them).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from safereport.config import Settings
from safereport.domain.codename import TEST_PARAMS
from safereport.domain.passwords import UnsafeCheapHasherForTests

__all__ = ["CHEAP_HASHER", "cheap"]

#: One cheap hasher for tests that call the account functions without an instance.
CHEAP_HASHER = UnsafeCheapHasherForTests()


def cheap(settings: Settings, **changes: Any) -> Settings:
    """``settings`` at test costs, with ``changes`` (typed settings) on top."""
    return replace(settings, argon2=TEST_PARAMS, password_hasher=CHEAP_HASHER, **changes)
