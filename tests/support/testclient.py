"""Starlette's TestClient, imported without its httpx2 deprecation warning (warnings are errors).

staff_client.py and victim_client.py hand on this one."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["TestClient"]
