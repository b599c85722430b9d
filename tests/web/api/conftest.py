"""Fixtures for the integration API: a client over the staff world (tests/web/conftest.py)."""

from __future__ import annotations

from tests.support.api import api_client

__all__ = ["api_client"]
