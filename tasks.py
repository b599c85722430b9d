#!/usr/bin/env python3
"""The project's two commands, for a fresh machine with only Python 3.11+.

    python3 tasks.py demo    make .venv, install, and serve a demo instance on 127.0.0.1
    python3 tasks.py test    make .venv, install, and run the whole test suite
    python3 tasks.py lock    regenerate requirements/*.lock from pyproject.toml (uv)
    python3 tasks.py audit   audit the locked set for known vulnerabilities (pip-audit)

Extra arguments after the command go to ``safereport demo``, to pytest, or to
``uv pip compile`` (``lock --upgrade``, ``lock --upgrade-package NAME``).
Installs come only from the lock files, every file checked against its hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"
REQUIREMENTS = ROOT / "requirements"
#: Every pinned file with its hash: the runtime set plus the test and development tools.
DEV_LOCK = REQUIREMENTS / "dev.lock"
#: The runtime set alone, for a deployment (docs/operations.md).
RUNTIME_LOCK = REQUIREMENTS / "runtime.lock"
_COMPILE = ("pip", "compile", "--quiet", "--generate-hashes", "--universal",
            "--python-version", "3.11")


def _run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, env=env)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - run by whatever python3 is on the machine
        sys.exit("safereport needs Python 3.11 or newer")
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    marker = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + DEV_LOCK.read_bytes()
    ).hexdigest().encode()
    if not STAMP.exists() or STAMP.read_bytes() != marker:
        print("installing safereport and its test tools into .venv (hash-checked) ...",
              flush=True)
        pip = (BIN / "python", "-m", "pip", "install", "-q")
        _run(*pip, "--require-hashes", "-r", DEV_LOCK)
        # The project itself, built with the locked setuptools: nothing unpinned comes in.
        _run(*pip, "--no-deps", "--no-build-isolation", "-e", ".")
        STAMP.write_bytes(marker)


def lock(extra: list[str]) -> None:
    """Both lock files from pyproject.toml; the runtime set is held to the dev set's pins."""
    uv = BIN / "uv"
    dev, runtime = (str(p.relative_to(ROOT)) for p in (DEV_LOCK, RUNTIME_LOCK))
    inputs = ("pyproject.toml", "requirements/build.in")  # relative: the files' headers show them
    _run(uv, *_COMPILE, *inputs, "--extra", "dev", *extra, "-o", dev)
    _run(uv, *_COMPILE, *inputs, "-c", dev, "-o", runtime)
    print(f"wrote {dev} and {runtime}")


def audit(extra: list[str]) -> int:
    """pip-audit over the dev lock (a superset of the runtime lock); strict: a package it
    could not look up fails the audit instead of passing unseen."""
    args = ("--strict", "--disable-pip", "--progress-spinner", "off", "-r", DEV_LOCK)
    return subprocess.run([str(BIN / "pip-audit"), *map(str, args), *extra],
                          cwd=ROOT).returncode


#: Debian packages the tests need: the browser, and the Noto fonts that draw every script of
#: the victim pages' languages (Arabic, Bengali, Ethiopic, Gujarati, Gurmukhi...) so that what
#: the tests see is what a phone with those fonts shows (none is fetched by a page); nginx and
#: systemd-analyze, to run the deployment guide's proxy config and check its unit as shipped.
TEST_PACKAGES = {"chromium": Path("/usr/bin/chromium"),
                 "fonts-noto-core": Path("/usr/share/fonts/truetype/noto"),
                 "nginx-light": Path("/usr/sbin/nginx"),
                 "systemd": Path("/usr/bin/systemd-analyze")}


def ensure_test_packages() -> None:
    """Debian's Chromium, Noto fonts, nginx and systemd for the tests; axe-core from npm."""
    missing = [name for name, path in TEST_PACKAGES.items() if not path.exists()]
    if missing:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            print(f"installing Debian's {', '.join(missing)} ...", flush=True)
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            _run("apt-get", "update", "-qq", env=env)
            _run("apt-get", "install", "-y", "-qq", *missing, env=env)
        else:
            print(f"warning: {', '.join(missing)} missing; the tests that need them will fail",
                  flush=True)
    axe = ROOT / "tests" / "e2e" / "node_modules" / "axe-core" / "axe.min.js"
    if not axe.exists() and shutil.which("npm"):
        print("installing axe-core from npm ...", flush=True)
        _run("npm", "install", "--silent", "--no-audit", "--no-fund",
             "--prefix", ROOT / "tests" / "e2e", "axe-core@4")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"audit", "demo", "lock", "test"}:
        sys.exit(__doc__)
    command, rest = sys.argv[1], sys.argv[2:]
    ensure_venv()
    if command == "lock":
        lock(rest)
        ensure_venv()  # .venv follows the new lock at once
        return
    if command == "audit":
        sys.exit(audit(rest))
    if command == "demo":
        os.execv(BIN / "safereport", [str(BIN / "safereport"), "demo", *rest])
    ensure_test_packages()
    result = subprocess.run([str(BIN / "python"), "-m", "pytest", *rest], cwd=ROOT)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
