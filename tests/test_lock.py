"""The lock files cover pyproject.toml, pin every package with hashes, and agree.

If a test here fails after a dependency was added or changed in pyproject.toml, run
``python3 tasks.py lock`` and commit requirements/*.lock (README, "Reproducible installs").
"""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from tests.support.paths import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def _pins(name: str) -> dict[str, tuple[Version, int]]:
    """Each pinned package of a lock file: name -> (version, number of hashes)."""
    text = (ROOT / "requirements" / name).read_text(encoding="utf-8")
    pins: dict[str, tuple[Version, int]] = {}
    # A pin and its "\"-continued hash lines form one logical line.
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text.replace("\\\n", " ")):
        match = _PIN.match(entry)
        if match:
            pins[canonicalize_name(match[1])] = (Version(match[2]), len(_HASH.findall(entry)))
    return pins


RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]
DEV = RUNTIME + [Requirement(r) for r in PROJECT["optional-dependencies"]["dev"]]


@pytest.mark.parametrize(("lock", "wanted"), [("runtime.lock", RUNTIME), ("dev.lock", DEV)])
def test_every_dependency_is_pinned_within_its_range(lock: str, wanted: list[Requirement]) -> None:
    pins = _pins(lock)
    stale = [
        str(req) for req in wanted
        if canonicalize_name(req.name) not in pins
        or pins[canonicalize_name(req.name)][0] not in req.specifier
    ]
    assert stale == [], f"{lock} is stale for {stale}: run `python3 tasks.py lock`"


@pytest.mark.parametrize("lock", ["runtime.lock", "dev.lock"])
def test_every_pin_carries_hashes(lock: str) -> None:
    pins = _pins(lock)
    assert len(pins) > 20
    assert [name for name, (_, hashes) in pins.items() if hashes == 0] == []


def test_the_runtime_set_is_the_dev_set_restricted() -> None:
    dev, runtime = _pins("dev.lock"), _pins("runtime.lock")
    assert {n: v for n, (v, _) in runtime.items()} == {n: dev[n][0] for n in runtime}


def test_the_build_backend_is_locked_too() -> None:
    """tasks.py builds the project without isolation, so setuptools must come from the lock."""
    build = [Requirement(r) for r in
             tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]]
    pins = _pins("dev.lock")
    assert all(pins[canonicalize_name(r.name)][0] in r.specifier for r in build)
    tasks = (ROOT / "tasks.py").read_text(encoding="utf-8")
    assert '"--require-hashes", "-r", DEV_LOCK' in tasks
    assert '"--no-deps", "--no-build-isolation", "-e", "."' in tasks
