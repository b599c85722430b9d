"""Import every table module so that ``metadata`` knows the whole schema (for Alembic)."""

from __future__ import annotations

import importlib

from safereport.store.metadata import metadata

__all__ = ["metadata"]

#: Table modules under ``safereport.store``; each registers its tables on ``metadata``.
TABLE_MODULES = ("core", "vault", "foi", "stats", "ledger", "staff", "witnesses", "provenance",
                 "public_forms", "evidence", "victim_sessions", "api_tokens",
                 "jobs", "quarantine", "notices", "report_drafts")

for _name in TABLE_MODULES:
    importlib.import_module(f"safereport.store.{_name}")
