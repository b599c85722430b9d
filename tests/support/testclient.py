"""Starlette's TestClient, imported without its httpx2 deprecation warning (warnings are errors)."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["TestClient"]
