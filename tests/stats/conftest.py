"""Fixtures for the statistics tests."""

from __future__ import annotations

import pytest

from safereport.ledger.keys import NoteSigner

ORIGIN = "stats.test.example/log"


@pytest.fixture(scope="session")
def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)
