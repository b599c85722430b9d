"""The public scenarios are copied into the repo; the copy must not drift from shared/."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.paths import ROOT

COPY = Path(__file__).resolve().parent / "data" / "scenarios.yaml"
SHARED = ROOT.parent / "shared" / "policy" / "scenarios.yaml"


def test_the_copy_equals_the_shared_scenarios() -> None:
    if not SHARED.exists():
        pytest.skip("no shared/ folder beside this clone")
    assert COPY.read_bytes() == SHARED.read_bytes()
