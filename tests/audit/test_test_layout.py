"""Audit (issue 12): the tests mirror the source they test (tests/README.md).

A test file sits in a cross-cutting folder (tests/audit/, tests/e2e/) or at the top of tests/,
or under tests/<package>/ for a package of src/safereport; one level deeper, the folder names
a module or sub-package of that package (tests/services/disclosure/, tests/web/staff/) or a
group listed in GROUPS with its reason. Helpers and fixtures live in tests/support/.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.paths import ROOT, SRC

TESTS = ROOT / "tests"

#: Folders that test the whole rather than one module.
CROSS_CUTTING = {"audit", "e2e"}

#: Second-level folders that name no module, each with its reason (none yet).
GROUPS: dict[str, dict[str, str]] = {}

#: The files, besides tests, conftest.py and __init__.py, allowed outside tests/support/.
OTHER_FILES = {"tests/e2e/only_here.py"}


def _packages() -> set[str]:
    return {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}


def _modules(package: str) -> set[str]:
    """The modules and sub-packages of one package of src/safereport."""
    folder = SRC / package
    names = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
    return names


def misplaced(tests: Path) -> list[str]:
    """Test files under ``tests`` that sit outside the layout, each with what is wrong."""
    packages = _packages()
    wrong = []
    for path in sorted(tests.rglob("test_*.py")):
        parts = path.relative_to(tests).parts
        where = "tests/" + "/".join(parts)
        if "node_modules" in parts or len(parts) == 1 or parts[0] in CROSS_CUTTING:
            continue
        top, folders = parts[0], parts[1:-1]
        if top not in packages:
            wrong.append(f"{where}: tests/{top}/ names no package of src/safereport")
        elif len(folders) > 1:
            wrong.append(f"{where}: more than one folder under tests/{top}/")
        elif folders and folders[0] not in _modules(top) | set(GROUPS.get(top, {})):
            wrong.append(f"{where}: {folders[0]}/ names no module of safereport.{top}")
    return wrong


def test_every_test_file_mirrors_the_source_it_tests() -> None:
    wrong = misplaced(TESTS)
    assert not wrong, "test files outside the layout (tests/README.md):\n" + "\n".join(wrong)


def test_helpers_live_in_tests_support() -> None:
    loose = [
        str(path.relative_to(ROOT))
        for path in sorted(TESTS.rglob("*.py"))
        if "node_modules" not in path.parts
        and not path.name.startswith("test_")
        and path.name not in {"conftest.py", "__init__.py"}
        and path.relative_to(TESTS).parts[0] != "support"
        and str(path.relative_to(ROOT)) not in OTHER_FILES
    ]
    assert not loose, "helpers belong in tests/support/:\n" + "\n".join(loose)


def test_the_layout_check_catches_a_test_out_of_place(tmp_path: Path) -> None:
    for name in ("staff/test_casework.py", "web/staff/test_pages.py", "services/nowhere/test_x.py",
                 "web/staff/deeper/test_y.py", "audit/test_z.py", "test_top.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert [line.split(":")[0] for line in misplaced(tmp_path)] == [
        "tests/services/nowhere/test_x.py",
        "tests/staff/test_casework.py",
        "tests/web/staff/deeper/test_y.py",
    ]
