"""Every benchmark starts: its imports resolve and it answers ``--help`` (the tests' move to
mirror src/ once left policy_bench.py importing a module that was no longer there)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tests.support.paths import ROOT

BENCHMARKS = sorted((ROOT / "benchmarks").glob("*_bench.py"))


def test_there_are_benchmarks() -> None:
    assert len(BENCHMARKS) >= 5


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda path: path.stem)
def test_the_benchmark_starts(script: object) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage" in done.stdout.lower()
