"""Every citation of the spec, and of a test file, resolves in a fresh clone (issue 12).

The code, tests and docs cite the policy contract, the design and the style guide by section
("POLICY.md section 3.4", "DESIGN.md section 7", "STYLE.md 11"). Those documents live in this
repository under docs/spec/, so a citation must name a section that exists there, a citation
must not point outside the repository to the shared folder, every relative link in the
docs must reach a file, and every test file or folder named (``tests/web/staff/``) must exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.support.paths import ROOT

SPEC = ROOT / "docs" / "spec"
SCANNED = ("src", "tests", "docs", "benchmarks", "README.md", "tasks.py")
SUFFIXES = {".py", ".md", ".cedar", ".html", ".txt", ".toml", ".yaml", ".po", ".pot"}

CITATION = re.compile(
    r"\b(?P<doc>POLICY|DESIGN|STYLE)\.md[,:]?\s+(?:section\s+|sections\s+|§\s*)?"
    r"(?P<section>\d+(?:\.\d+)?)\b"
)
OUTSIDE = re.compile(r"shared/(?:POLICY|DESIGN|STYLE)\.md")
LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#[^)]*)?\)")
TEST_PATH = re.compile(r"(?<![\w/.])tests/(?:[\w-]+/)*(?:[\w-]+\.py\b|(?=[\s`'\",;:)]))")
#: Files that name test paths that do not exist on purpose.
NAMES_MADE_UP_PATHS = {ROOT / "tests" / "audit" / "test_test_layout.py"}


def _files() -> list[Path]:
    found: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            found.append(path)
            continue
        found.extend(
            p
            for p in path.rglob("*")
            if p.is_file() and p.suffix in SUFFIXES and "node_modules" not in p.parts
        )
    return sorted(found)


def _sections(doc: str) -> set[str]:
    """The section numbers a spec document has: headings "## 3." / "### 3.4", or items "11."."""
    text = (SPEC / f"{doc}.md").read_text(encoding="utf-8")
    numbered = re.compile(r"^(?:#{2,3}\s+)?(\d+(?:\.\d+)?)\.?\s", re.MULTILINE)
    return set(numbered.findall(text))


def _citations() -> list[tuple[str, int, str, str]]:
    cited = []
    for path in _files():
        if path == Path(__file__).resolve():
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in CITATION.finditer(line):
                rel = str(path.relative_to(ROOT))
                cited.append((rel, lineno, match["doc"], match["section"]))
    return cited


def test_the_spec_is_in_the_repository() -> None:
    for doc in ("POLICY", "DESIGN", "STYLE"):
        assert (SPEC / f"{doc}.md").is_file(), f"docs/spec/{doc}.md is missing"


def test_every_section_citation_resolves() -> None:
    sections = {doc: _sections(doc) for doc in ("POLICY", "DESIGN", "STYLE")}
    cited = _citations()
    assert len(cited) > 10, "the citation scanner found almost nothing: is its pattern right?"
    broken = [
        f"{path}:{lineno}: {doc}.md {section}"
        for path, lineno, doc, section in cited
        if section not in sections[doc]
    ]
    assert not broken, "citations of sections that docs/spec/ does not have:\n" + "\n".join(broken)


#: A verbatim copy of the shared public scenarios, kept equal to its original by a test.
VERBATIM_COPIES = {ROOT / "tests" / "policy" / "data" / "scenarios.yaml"}


def test_no_citation_points_outside_the_repository() -> None:
    outside = []
    for path in _files():
        if path == Path(__file__).resolve() or path in VERBATIM_COPIES:
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line):
                outside.append(f"{path.relative_to(ROOT)}:{lineno}")
    assert not outside, "cite docs/spec/ instead of the shared folder:\n" + "\n".join(outside)


def test_every_relative_link_in_the_docs_resolves() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for doc in docs:
        for match in LINK.finditer(doc.read_text(encoding="utf-8")):
            target = match["target"]
            if re.match(r"^[a-z]+:", target):
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


def test_every_test_path_named_exists() -> None:
    missing = []
    for path in _files():
        if path in NAMES_MADE_UP_PATHS:
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in TEST_PATH.finditer(line):
                if not (ROOT / match[0]).exists():
                    missing.append(f"{path.relative_to(ROOT)}:{lineno}: {match[0]}")
    assert not missing, "test files or folders named but not there:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("see POLICY.md section 3.4.", [("POLICY", "3.4")]),
        ("(STYLE.md 11)", [("STYLE", "11")]),
        ("DESIGN.md section 7 and POLICY.md 3.5", [("DESIGN", "7"), ("POLICY", "3.5")]),
        ("POLICY.md v2: the facts", []),
    ],
)
def test_the_scanner_finds_citations(line: str, expected: list[tuple[str, str]]) -> None:
    assert [(m["doc"], m["section"]) for m in CITATION.finditer(line)] == expected


def test_a_missing_section_would_be_caught() -> None:
    assert "3.4" in _sections("POLICY")
    assert "3.9" not in _sections("POLICY")
    assert "16" in _sections("STYLE")
    assert "11" not in _sections("DESIGN")
