#!/usr/bin/env python3
"""The project's two commands, for a fresh machine with only Python 3.11+.

    python3 tasks.py demo    make .venv, install, and serve a demo instance on 127.0.0.1
    python3 tasks.py test    make .venv, install, and run the whole test suite

Extra arguments after the command go to ``safereport demo`` or to pytest.
"""

from __future__ import annotations

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


def _run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, env=env)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - run by whatever python3 is on the machine
        sys.exit("safereport needs Python 3.11 or newer")
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    marker = (ROOT / "pyproject.toml").read_bytes()
    if not STAMP.exists() or STAMP.read_bytes() != marker:
        print("installing safereport and its test tools into .venv ...", flush=True)
        _run(BIN / "python", "-m", "pip", "install", "-q", "--upgrade", "pip")
        _run(BIN / "python", "-m", "pip", "install", "-q", "-e", ".[dev]")
        STAMP.write_bytes(marker)


def ensure_browser() -> None:
    """Debian's Chromium for the page tests, and axe-core from npm."""
    if not Path("/usr/bin/chromium").exists():
        if os.geteuid() == 0 and shutil.which("apt-get"):
            print("installing Debian's chromium ...", flush=True)
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            _run("apt-get", "update", "-qq", env=env)
            _run("apt-get", "install", "-y", "-qq", "chromium", env=env)
        else:
            print("warning: /usr/bin/chromium missing; browser tests will fail", flush=True)
    axe = ROOT / "tests" / "e2e" / "node_modules" / "axe-core" / "axe.min.js"
    if not axe.exists() and shutil.which("npm"):
        print("installing axe-core from npm ...", flush=True)
        _run("npm", "install", "--silent", "--no-audit", "--no-fund",
             "--prefix", ROOT / "tests" / "e2e", "axe-core@4")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test"}:
        sys.exit(__doc__)
    command, rest = sys.argv[1], sys.argv[2:]
    ensure_venv()
    if command == "demo":
        os.execv(BIN / "safereport", [str(BIN / "safereport"), "demo", *rest])
    ensure_browser()
    result = subprocess.run([str(BIN / "python"), "-m", "pytest", *rest], cwd=ROOT)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
